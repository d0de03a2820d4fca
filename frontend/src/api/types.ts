/** Short names for the generated OpenAPI types, and the terminal states checked against them. */
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
export type TerminalJobStatus = Schemas["TerminalJobStatus"];
export type WsCloseCodes = Schemas["WsCloseCodes"];

/** The final states, derived once from the schema's enum: the compiler rejects a missing or an extra one. */
const TERMINAL: Record<TerminalJobStatus, true> = { complete: true, error: true, cancelled: true };

export function isTerminal(status: JobStatus): status is TerminalJobStatus {
  return Object.hasOwn(TERMINAL, status);
}
