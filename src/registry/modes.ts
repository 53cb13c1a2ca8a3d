/**
 * Mode of a revision file written by pull or the file registry: snapshot files hold the guest's memory
 * and disk (secrets included) and are private to the owner, as the snapshot build leaves them.
 */
export function fileMode(name: string): number {
  return name.startsWith("snapshot/") ? 0o600 : 0o644;
}
