import type { JobDefinition } from './core/jobs/define-job.ts';
import { generateExport } from './modules/exports/exports.jobs.ts';
import { importItems } from './modules/imports/imports.jobs.ts';
import { purgeExpired } from './modules/maintenance/maintenance.jobs.ts';

/** Every job the service knows. A worker runs all of them, or those it is told to. */
export const JOBS: readonly JobDefinition[] = [generateExport, importItems, purgeExpired];
