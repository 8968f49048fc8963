/** Lookout's version, reported by Runners to the Platform (kept equal to package.json by a test). */
export const LOOKOUT_VERSION = '0.1.0';
