/** Short names for the generated OpenAPI types; nothing here is written by hand. */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Health = Schemas["HealthResponse"];
export type Limits = Schemas["LimitsResponse"];
export type Session = Schemas["SessionResponse"];
export type EditRequest = Schemas["EditRequest"];
export type OutputFormat = Schemas["OutputFormat"];
export type SubmitResponse = Schemas["SubmitResponse"];
export type DeleteResponse = Schemas["DeleteResponse"];
export type Job = Schemas["JobView"];
export type JobList = Schemas["JobListResponse"];
export type JobStatus = Schemas["JobStatus"];
export type Progress = Schemas["Progress"];
export type ProgressStage = Schemas["ProgressStage"];
export type ModelState = Schemas["ModelState"];
export type WsMessage = Schemas["WsMessage"];
export type JobMessage = Schemas["JobMessage"];
export type ProgressMessage = Schemas["ProgressMessage"];
export type ActiveJobsMessage = Schemas["ActiveJobsMessage"];
export type ActivityMessage = Schemas["ActivityMessage"];
export type RequeueReason = Schemas["RequeueReason"];
export type LoraView = Schemas["LoraView"];
export type LoraChoice = Schemas["LoraChoice"];

export const TERMINAL_STATUSES: readonly JobStatus[] = ["complete", "error", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
