export { type CheckFn, type CheckStatus, type DoctorCheck, firstLine } from "../core/doctor.js";
export { probe } from "../host/tool-checks.js";
