/** Kept equal to package.json's version (a unit test checks it). */
export const VERSION = "0.1.0"

/** GitHub rejects requests without a User-Agent; name the product and version. */
export const USER_AGENT = `deployment-tracker/${VERSION}`
