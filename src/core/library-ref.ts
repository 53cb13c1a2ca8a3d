// Where mvmctl's Nix library (mkGuest, the `nix/` directory of the repository) is published, as the
// flake reference a scaffolded flake names. A release tag pins the library that release ships, so a
// flake written by one version keeps naming the same library text wherever it is checked out. It
// never names a path on the host: `mvmctl build` replaces it with the library installed with the
// mvmctl that runs the build (--override-input), so builds need no network and follow upgrades.

/** The repository's flake, as nix spells it. */
export const PUBLISHED_FLAKE = "github:mvmctl/mvmctl";

/** The Nix library of release `version`: `github:…/v<version>?dir=nix`. */
export function libraryFlakeRef(version: string): string {
  return `${PUBLISHED_FLAKE}/v${version}?dir=nix`;
}

/**
 * What an offline flake's kit input names before a build supplies the kit. The offline guest kit is
 * built on each machine from its own packages (`mvmctl kit build`), so no published reference can
 * hold it; the release's source tree stands in (as a non-flake input), and mkGuest says what to do
 * when it is handed that instead of a kit.
 */
export function kitPlaceholderRef(version: string): string {
  return `${PUBLISHED_FLAKE}/v${version}`;
}
