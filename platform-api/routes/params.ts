/** Path parameter schemas shared by the route files. */
import { z } from 'zod';

export const WorkspaceParams = z.strictObject({ ws: z.uuid() });
export const IdParams = z.strictObject({ id: z.uuid() });
export const WorkspaceIdParams = z.strictObject({ ws: z.uuid(), id: z.uuid() });
export const Limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);
