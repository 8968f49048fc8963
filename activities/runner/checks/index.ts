import type { CheckType } from '../../../common/checks';
import type { Check } from './check';
import { httpProbe } from './http-probe';

/** Every check implementation, by type. A type the Runner's allowlist omits is refused before lookup. */
export const CHECKS: { readonly [K in CheckType]: Check<never> } = {
  'http.probe': httpProbe as Check<never>,
};
