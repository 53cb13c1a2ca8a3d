// fc-base.json, as the original mvm writes it: a reference Firecracker configuration for the revision, with
// the keys in the alphabetical order the original produced and relative file names. Nothing reads it back; it
// documents how the revision boots.

export interface FcBaseInput {
  kernelFile: string;
  initrdFile: string | undefined;
  rootfsFile: string;
  vcpus: number;
  memMib: number;
}

export function bootArgs(hasInitrd: boolean): string {
  return hasInitrd
    ? "console=ttyS0 reboot=k panic=1 net.ifnames=0"
    : "root=/dev/vda rw rootwait init=/init console=ttyS0 reboot=k panic=1 net.ifnames=0";
}

export function fcBaseConfig(i: FcBaseInput): unknown {
  const bootSource: Record<string, string> = { boot_args: bootArgs(i.initrdFile !== undefined) };
  if (i.initrdFile !== undefined) bootSource.initrd_path = i.initrdFile;
  bootSource.kernel_image_path = i.kernelFile;
  return {
    "boot-source": bootSource,
    drives: [{ drive_id: "rootfs", is_read_only: false, is_root_device: true, path_on_host: i.rootfsFile }],
    "machine-config": { mem_size_mib: i.memMib, vcpu_count: i.vcpus },
  };
}
