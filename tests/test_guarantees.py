"""GUARANTEES.md, line by line: every promise the service makes, and the tests that prove it.

The list below mirrors the shared GUARANTEES.md (which is not in this repository): each bullet, split into the
separate claims it holds, maps to the pytest node ids of the tests that would fail if the claim stopped being
true. When GUARANTEES.md changes, change CLAIMS (and WITHOUT_TEST) with it. A claim that no test proves yet is
listed in WITHOUT_TEST with the reason, never left with an empty list.

`test_every_listed_test_exists` parses the test files (it imports nothing of them), so a renamed or deleted test
fails here instead of silently leaving its claim unproven. Parametrised tests are named without their brackets.
"""

from __future__ import annotations

import pytest

from tests.node_ids import node_exists

ACCESS = "tests/api/test_access.py"
EXTRA = "tests/api/test_guarantees_extra.py"
UNITS = "tests/test_guarantees_units.py"
BOUNDED = "tests/api/test_bounded_resources.py"
SOCKETS = "tests/api/test_bounded_websockets.py"
BAD_INPUT = "tests/api/test_bad_input.py"
JOBS_API = "tests/api/test_jobs_api.py"
CONTRACT = "tests/store/test_contract.py"
CONTRACT_MORE = "tests/store/test_contract_transitions.py"
WORKER = "tests/test_worker.py"
EVENTS_PG = "tests/test_events_postgres.py"
BLOBS = "tests/blobs/test_contract.py"
CLEANUP = "tests/test_cleanup.py"
WEBHOOKS = "tests/api/test_webhooks.py"
TARGETS = "tests/test_webhook_targets.py"
SLOW = "tests/api/test_slow_connections.py"

CLAIMS: dict[str, list[str]] = {
    # -- Access: fails closed ------------------------------------------------------------------------------------
    "Access / Fails closed: with keys, every route except /api/health needs a valid key": [
        f"{ACCESS}::test_with_keys_every_route_but_health_and_the_page_needs_one",
        f"{EXTRA}::test_with_keys_every_route_of_the_app_but_the_public_ones_needs_one",
        "tests/api/test_metrics.py::test_metrics_take_any_key_when_keys_are_required_and_ready_takes_none",
        f"{ACCESS}::test_revoking_the_last_key_of_a_public_server_locks_it_rather_than_opening_it",
    ],
    "Access / Fails closed: every WebSocket needs a valid key": [
        f"{ACCESS}::test_a_socket_without_a_key_is_closed_1008",
        f"{EXTRA}::test_with_keys_every_route_of_the_app_but_the_public_ones_needs_one",
    ],
    "Access / Fails closed: the key goes in `Authorization: Bearer <key>` or `X-API-Key`": [
        f"{ACCESS}::test_with_keys_every_route_but_health_and_the_page_needs_one",
        f"{ACCESS}::test_isolation_matrix_two_owners_and_an_admin",
        "tests/api/test_openai_compat.py::test_keys_are_bearer_tokens_and_refusals_are_in_openais_shape",
    ],
    "Access / Fails closed: the page uses a session cookie traded for the key once": [
        f"{ACCESS}::test_a_key_is_exchanged_for_a_strict_http_only_session_cookie",
        f"{ACCESS}::test_the_cookie_is_secure_behind_an_https_proxy",
        "tests/e2e/test_sign_in.py::test_sign_in_edit_download_and_sign_out",
    ],
    "Access / Fails closed: never a key in a URL": [
        f"{EXTRA}::test_a_key_in_the_url_is_never_taken",
        "tests/e2e/test_sign_in.py::test_sign_in_edit_download_and_sign_out",
    ],
    "Access / Fails closed: never a key in a log": [
        f"{ACCESS}::test_neither_the_database_nor_the_logs_contain_a_key",
        "tests/test_cli_keys.py::test_create_prints_the_key_once_on_its_last_line_and_list_never_shows_it",
    ],
    "Access / Fails closed: never a key in page storage": [
        "tests/e2e/test_sign_in.py::test_sign_in_edit_download_and_sign_out",
    ],
    "Access / Fails closed: keys are compared in constant time": [
        f"{UNITS}::test_keys_and_session_tokens_are_compared_in_constant_time",
    ],
    "Access / Fails closed: keys are stored as hashes": [
        f"{ACCESS}::test_neither_the_database_nor_the_logs_contain_a_key",
        f"{UNITS}::test_keys_and_session_tokens_are_compared_in_constant_time",
    ],
    "Access / Fails closed: a non-loopback bind without keys is refused unless the loudly named flag": [
        "tests/test_cli_keys.py::test_an_open_server_on_a_public_address_is_refused_with_both_fixes",
        "tests/test_cli_keys.py::test_insecure_no_auth_starts_and_says_so_at_start_and_in_health",
        "tests/test_cli_keys.py::test_with_a_key_a_public_address_is_served",
    ],
    # -- Access: owner isolation ---------------------------------------------------------------------------------
    "Access / Owner isolation: a job belongs to the key that made it": [
        f"{ACCESS}::test_isolation_matrix_two_owners_and_an_admin",
        f"{CONTRACT_MORE}::test_owners_see_only_their_own_jobs",
    ],
    "Access / Owner isolation: another key gets the same 404 as for a missing job, on every route": [
        f"{ACCESS}::test_isolation_matrix_two_owners_and_an_admin",
        f"{EXTRA}::test_another_keys_job_is_the_same_404_as_a_missing_one_on_the_star_and_zip_routes",
    ],
    "Access / Owner isolation: ... and on the WebSocket": [
        f"{ACCESS}::test_isolation_matrix_two_owners_and_an_admin",
        "tests/api/test_activity.py::test_each_key_hears_only_its_own_jobs_but_counts_the_whole_queue",
    ],
    "Access / Owner isolation: admin-only: cleanup of others' jobs": [
        f"{ACCESS}::test_only_admins_clean_up",
    ],
    # -- Access: origins -----------------------------------------------------------------------------------------
    "Access / No cross-origin access unless origins are configured": [
        f"{ACCESS}::test_cors_preflight_answers_listed_origins_only_and_never_star",
        f"{ACCESS}::test_an_open_server_takes_edits_from_an_allowed_origin_page",
        f"{ACCESS}::test_cookie_requests_and_sockets_from_a_foreign_origin_are_refused",
    ],
    "Access / Never `*` with credentials": [
        f"{ACCESS}::test_cors_preflight_answers_listed_origins_only_and_never_star",
    ],
    "Access / WebSocket handshakes from a foreign Origin are refused": [
        f"{ACCESS}::test_cookie_requests_and_sockets_from_a_foreign_origin_are_refused",
    ],
    # -- Input: size caps ----------------------------------------------------------------------------------------
    "Input / Size caps: a body over the cap gets 413": [
        f"{BAD_INPUT}::test_an_oversized_body_is_refused_with_413",
        "tests/api/test_client.py::test_oversized_uploads_are_a_413_with_its_message_sync_and_async",
    ],
    "Input / Size caps: chunked bodies too": [
        f"{BAD_INPUT}::test_an_oversized_chunked_body_is_refused_while_reading",
        f"{BAD_INPUT}::test_an_async_client_sees_the_413_and_its_message",
    ],
    "Input / Size caps: the rest is read and discarded up to 4x the cap so every client, async too, reads the answer": [
        f"{BAD_INPUT}::test_an_async_client_sees_the_413_and_its_message",
        f"{EXTRA}::test_an_oversized_body_is_answered_413_then_its_connection_is_closed",
    ],
    "Input / Size caps: then the connection is closed": [
        f"{EXTRA}::test_an_oversized_body_is_answered_413_then_its_connection_is_closed",
    ],
    "Input / Size caps: image parts at most the model's reference limit": [
        f"{BAD_INPUT}::test_more_image_parts_than_any_model_takes_are_refused_unread",
        f"{BAD_INPUT}::test_image_parts_beyond_the_models_limit_twice_or_with_gaps_are_refused",
        "tests/api/test_model_capabilities.py::test_a_21_server_takes_ten_references_and_refuses_eleven_naming_the_limit",
        "tests/test_cli_edit.py::test_four_images_are_refused",
    ],
    "Input / Size caps: text fields bounded": [
        f"{BAD_INPUT}::test_an_oversized_config_field_is_refused",
        "tests/api/test_hostile_input.py::test_a_config_nested_twenty_thousand_deep_is_refused",
        "tests/api/test_hostile_input.py::test_a_seed_of_five_thousand_digits_is_refused",
    ],
    "Input / Size caps: the server keeps serving": [
        f"{BAD_INPUT}::test_bad_uploads_get_a_clear_4xx",
        f"{BAD_INPUT}::test_an_oversized_body_is_refused_with_413",
        f"{BAD_INPUT}::test_an_oversized_chunked_body_is_refused_while_reading",
    ],
    # -- Input: decoders -----------------------------------------------------------------------------------------
    "Input / Decoder allowlist: only JPEG, PNG and WebP are decoded": [
        f"{BAD_INPUT}::test_bad_uploads_get_a_clear_4xx",
        f"{EXTRA}::test_jpeg_png_and_webp_are_taken",
    ],
    "Input / Decoder allowlist: HEIC only if enabled": [
        f"{EXTRA}::test_heic_is_refused_with_415",
    ],
    "Input / Decoder allowlist: the type comes from the bytes, not the name or Content-Type": [
        f"{BAD_INPUT}::test_bad_uploads_get_a_clear_4xx",
        f"{EXTRA}::test_the_type_comes_from_the_bytes_not_the_name_or_content_type",
    ],
    "Input / Decoder allowlist: anything else gets 415 naming what is accepted": [
        f"{BAD_INPUT}::test_bad_uploads_get_a_clear_4xx",
        "tests/api/test_openai_compat.py::test_errors_come_in_openais_shape",
    ],
    # -- Input: pixel bombs --------------------------------------------------------------------------------------
    "Input / Pixel bombs: more than QIE_MAX_PIXELS is refused before decoding": [
        f"{BAD_INPUT}::test_an_image_just_over_the_pixel_limit_is_refused_before_decoding",
        f"{BAD_INPUT}::test_bad_uploads_get_a_clear_4xx",
    ],
    "Input / Pixel bombs: Pillow's bomb warning is an error": [
        f"{UNITS}::test_pillows_decompression_bomb_warning_is_an_error",
    ],
    # -- Input: clean images -------------------------------------------------------------------------------------
    "Input / Clean images: stored inputs are re-encoded: no EXIF/GPS, orientation applied": [
        f"{BAD_INPUT}::test_exif_orientation_is_applied_and_metadata_stripped",
        f"{BOUNDED}::test_a_reduced_photo_is_turned_upright_and_loses_its_metadata",
    ],
    "Input / Clean images: all outputs are re-encoded by us": [
        f"{UNITS}::test_an_output_is_encoded_by_us_without_the_inputs_metadata",
        "tests/api/test_settings_in_files.py::test_settings_read_back_from_a_download",
    ],
    "Input / Clean images: downloads carry our Content-Type, nosniff and attachment": [
        f"{JOBS_API}::test_result_downloads_as_often_as_wanted",
        "tests/api/test_history_api.py::test_variations_download_alone_or_all_in_a_zip",
        f"{BLOBS}::test_s3_presigned_urls_fetch_the_file_as_an_attachment",
    ],
    # -- Input: paths --------------------------------------------------------------------------------------------
    "Input / No user-controlled paths: paths derive from the job UUID and a fixed role name": [
        f"{BLOBS}::test_only_role_names_are_ever_opened",
        f"{BLOBS}::test_job_ids_must_be_the_servers_uuids",
        f"{JOBS_API}::test_file_names_outside_the_roles_are_404",
        f"{JOBS_API}::test_unknown_or_malformed_job_ids_are_404",
    ],
    "Input / No user-controlled paths: every resolved path lies under the data directory": [
        f"{UNITS}::test_a_job_file_that_resolves_outside_the_data_directory_is_never_opened",
        f"{CLEANUP}::test_job_ids_that_are_not_ours_are_refused",
    ],
    "Input / No user-controlled paths: symlinks are not followed": [
        f"{UNITS}::test_a_symlinked_job_folder_is_neither_read_written_nor_deleted_through",
        f"{UNITS}::test_a_symlinked_job_file_is_not_opened_and_a_save_replaces_the_link_not_its_target",
    ],
    # -- Input: code loading -------------------------------------------------------------------------------------
    "Input / No code loading: weights and LoRAs load from safetensors (or GGUF) only": [
        "tests/test_engine_devices.py::test_placement_follows_device_and_memory_plan",
        "tests/test_engine_devices.py::test_gguf_loads_the_transformer_from_the_file_then_offloads",
        "tests/test_engine_lightning_loras.py::test_the_list_says_which_files_fit",
        "tests/test_engine_lightning_loras.py::test_bad_lora_files_fail_their_job_alone_with_the_reason",
    ],
    "Input / No code loading: no torch.load/pickle on anything a user can supply": [
        f"{UNITS}::test_no_module_unpickles_anything",
    ],
    "Input / No code loading: no endpoint installs models or plugins": [
        f"{EXTRA}::test_every_route_that_changes_anything_is_a_known_one",
    ],
    "Input / No code loading: LoRAs come only from the operator's loras/ folder": [
        "tests/api/test_loras_api.py::test_bad_lora_choices_are_refused_at_submit",
        "tests/api/test_loras_api.py::test_the_lora_list_names_the_safetensors_files",
    ],
    # -- Input: outbound requests --------------------------------------------------------------------------------
    "Input / No SSRF: the only outbound requests a user can cause are webhooks": [
        f"{UNITS}::test_only_the_webhook_sender_makes_http_requests_on_the_server_side",
        "tests/test_guarantees_outbound.py::test_a_lightning_job_makes_no_outbound_request",
    ],
    "Input / No SSRF: webhooks refuse loopback, private and link-local targets": [
        f"{WEBHOOKS}::test_private_addresses_are_refused_at_submit",
        f"{TARGETS}::test_a_private_target_is_refused_in_every_spelling",
    ],
    "Input / No SSRF: ... checked after DNS resolution": [
        f"{WEBHOOKS}::test_the_address_is_checked_again_after_resolution",
        f"{TARGETS}::test_every_resolved_address_is_checked_not_only_the_first",
    ],
    "Input / No SSRF: ... unless the operator allows them": [
        # with QIE_WEBHOOK_ALLOW_PRIVATE it posts to a loopback receiver
        f"{WEBHOOKS}::test_an_ended_job_is_posted_to_its_webhook_signed",
    ],
    "Input / No SSRF: webhooks are signed so receivers can verify them": [
        f"{WEBHOOKS}::test_an_ended_job_is_posted_to_its_webhook_signed",
    ],
    # -- Durability ----------------------------------------------------------------------------------------------
    "Durability / Accepted means not lost: an accepted job ends even after SIGKILL and restart": [
        "tests/test_crash_recovery.py::test_sigkill_mid_job_then_restart_finishes_every_accepted_job",
        f"{WORKER}::test_restart_requeues_a_dead_workers_job_then_runs_it",
        "tests/store/test_sql.py::test_sqlite_jobs_survive_a_new_store_object",
    ],
    # Issue 21, point 7 (not in GUARANTEES.md yet: its bullet is to follow this promise there).
    "Durability / Restarts resume: a requeued job continues after its last checkpoint, to the same pixels": [
        "tests/test_resume_after_kill.py::"
        "test_a_job_killed_mid_run_continues_after_its_checkpoint_to_the_uninterrupted_pixels",
        "tests/test_engine_checkpoints.py::"
        "test_an_edit_family_continued_from_a_checkpoint_gives_the_uninterrupted_pixels",
        "tests/test_engine_checkpoints.py::test_21_continued_from_a_checkpoint_gives_the_uninterrupted_pixels",
        "tests/test_engine_checkpoints.py::test_a_region_edit_continued_from_a_checkpoint_gives_the_uninterrupted_pixels",
        "tests/test_worker_checkpoints.py::test_a_requeued_job_continues_after_its_last_checkpoint",
        "tests/test_worker_checkpoints.py::test_checkpoints_are_saved_every_few_steps_and_removed_when_the_job_ends",
    ],
    "Durability / Accepted means not lost: SQLite runs in WAL mode": [
        "tests/store/test_sql.py::test_sqlite_connections_are_tuned_for_durability_and_contention",
    ],
    "Durability / Bounded retries: a dead worker's job re-runs at most max_attempts (2), then error with a reason": [
        f"{CONTRACT}::test_expired_leases_requeue_then_fail_after_max_attempts",
        "tests/test_settings.py::test_defaults_are_safe",
    ],
    "Durability / Bounded retries: a job that crashes its worker every time cannot loop forever": [
        f"{WORKER}::test_a_job_that_kills_its_worker_every_time_ends_as_error",
        f"{WORKER}::test_a_job_that_crashes_its_service_every_time_ends_as_error",
    ],
    "Durability / Single run: a job runs on at most one worker at a time": [
        f"{CONTRACT}::test_concurrent_claims_never_take_a_job_twice",
        f"{CONTRACT}::test_separate_store_objects_on_one_database_never_take_a_job_twice",
        "tests/store/test_sql.py::test_sqlite_separate_processes_never_take_a_job_twice",
        "tests/test_scale_out.py::test_two_worker_processes_share_the_queue_and_run_each_job_once",
        f"{CONTRACT}::test_lease_renewal_by_holder_and_stranger",
    ],
    "Durability / Atomic files: a result file is absent or complete (temp file, fsync, rename)": [
        f"{UNITS}::test_a_file_is_written_whole_or_not_at_all",
        f"{UNITS}::test_a_write_is_synced_before_it_is_renamed_into_place",
    ],
    "Durability / Atomic files: complete is recorded only after the file is in place": [
        f"{UNITS}::test_complete_is_recorded_only_after_the_result_file_is_in_place",
    ],
    "Durability / Full disk: fails the job with a clear reason": [
        "tests/api/test_full_disk.py::test_a_full_disk_fails_the_running_job_answers_507_and_recovers",
        f"{WORKER}::test_a_full_disk_fails_the_job_with_a_reason_and_the_worker_recovers",
        f"{CONTRACT}::test_a_worker_never_recovers_the_jobs_it_holds",
    ],
    "Durability / Full disk: new uploads get 507, reads keep working, recovers once space is freed": [
        "tests/api/test_full_disk.py::test_a_full_disk_fails_the_running_job_answers_507_and_recovers",
        f"{BAD_INPUT}::test_a_full_disk_refuses_uploads_with_507_and_reads_keep_working",
    ],
    "Durability / GPU out of memory fails that job with a clear reason and how to lower memory": [
        "tests/test_engine.py::test_out_of_memory_fails_the_edit_with_advice_and_the_engine_goes_on",
        f"{UNITS}::test_out_of_memory_fails_that_job_with_advice_and_the_same_worker_runs_the_next",
    ],
    "Durability / GPU out of memory: the same worker completes the next job": [
        f"{UNITS}::test_out_of_memory_fails_that_job_with_advice_and_the_same_worker_runs_the_next",
    ],
    "Durability / Crash-safe cleanup: idempotent": [
        f"{UNITS}::test_cleanup_twice_is_cleanup_once",
        f"{UNITS}::test_cleanup_killed_between_record_and_files_is_finished_by_the_next_one",
    ],
    "Durability / Crash-safe cleanup: never touches active jobs": [
        f"{CLEANUP}::test_all_removes_finished_jobs_and_their_files_but_never_active_ones",
        f"{CLEANUP}::test_the_retention_sweep_runs_in_the_background",
        f"{CONTRACT_MORE}::test_delete_removes_any_job_but_a_processing_one",
    ],
    "Durability / Crash-safe cleanup: never leaves the data directory": [
        f"{CLEANUP}::test_folders_outside_the_job_layout_are_left_alone",
        f"{CLEANUP}::test_job_ids_that_are_not_ours_are_refused",
        f"{BLOBS}::test_s3_leaves_other_keys_of_the_bucket_alone",
        f"{UNITS}::test_a_symlinked_job_folder_is_neither_read_written_nor_deleted_through",
    ],
    # -- Load ----------------------------------------------------------------------------------------------------
    "Load / Backpressure: queue full: 503 with Retry-After": [
        f"{JOBS_API}::test_a_full_queue_answers_503_with_retry_after",
        f"{BOUNDED}::test_uploads_beyond_the_decoding_slots_wait_briefly_then_get_503_with_retry_after",
    ],
    "Load / Backpressure: over a key's quota: 429 with Retry-After": [
        f"{ACCESS}::test_queued_jobs_per_key_are_capped_with_retry_after",
        f"{ACCESS}::test_submits_per_minute_per_key_are_capped_with_retry_after",
    ],
    "Load / Slow clients: each WebSocket has a bounded send buffer": [
        f"{SOCKETS}::test_a_stalled_websocket_reader_slows_neither_another_watcher_nor_the_job",
    ],
    "Load / Slow clients: progress is coalesced": [
        "tests/test_slow_subscribers.py::test_a_subscriber_that_falls_behind_loses_old_progress_never_the_final_message",
    ],
    "Load / Slow clients: one stalled subscriber is closed without delaying the others": [
        f"{SOCKETS}::test_a_stalled_websocket_reader_is_closed_while_the_job_runs_and_the_others_miss_nothing",
        f"{SOCKETS}::test_a_stalled_websocket_reader_slows_neither_another_watcher_nor_the_job",
    ],
    "Load / Slow clients: idle sockets are pinged": [
        f"{SOCKETS}::test_websockets_are_not_compressed_and_idle_ones_are_pinged",
        f"{SLOW}::test_a_websocket_that_never_reads_nor_pongs_is_closed",
    ],
    "Load / Slow clients: a request whose body stalls gets 408 and its connection closed": [
        f"{BOUNDED}::test_a_stalled_upload_is_answered_408_and_its_connection_closed",
        f"{BOUNDED}::test_a_slow_but_steady_upload_is_not_cut_off",
    ],
    "Load / Slow clients: ... headers too, within a bounded time, however slowly it drips": [
        f"{SLOW}::test_headers_that_drip_are_answered_408_and_the_connection_closed",
        f"{SLOW}::test_a_connection_that_sends_nothing_is_answered_408_and_closed",
        f"{SLOW}::test_a_body_that_drips_gets_408_by_the_overall_deadline_though_bytes_keep_arriving",
        f"{SLOW}::test_the_defaults_bound_every_slow_connection",
    ],
    "Load / Events cross processes whole: any job's events (any prompt, language, previews) reach every API node": [
        f"{EVENTS_PG}::test_events_cross_the_wire_unchanged",
        f"{EVENTS_PG}::test_parts_are_cut_by_bytes_and_never_inside_a_character",
        f"{EVENTS_PG}::test_long_cjk_prompts_with_previews_cross_while_another_jobs_steps_keep_flowing",
        "tests/test_scale_out.py::test_a_watcher_on_an_api_node_sees_every_step_of_a_job_a_worker_process_runs",
    ],
    "Load / Events cross processes whole: one event that cannot be sent never takes other jobs' events with it": [
        f"{EVENTS_PG}::test_an_event_that_cannot_be_sent_is_dropped_alone_and_counted",
        f"{EVENTS_PG}::test_an_event_with_a_lost_part_is_dropped_not_garbled",
    ],
    "Load / Timing-free tests: the suite passes on a loaded 2-core machine as on an idle one": [],
    "Load / Fuzzed: Schemathesis over the OpenAPI schema finds no 5xx and no schema violation": [
        "tests/api/test_fuzz.py::test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation",
    ],
}

# Claims no test proves (yet), each with the reason. A claim here has an empty list in CLAIMS.
WITHOUT_TEST: dict[str, str] = {
    "Load / Timing-free tests: the suite passes on a loaded 2-core machine as on an idle one": (
        "proven by `make test-stress` (the suite under scripts/with-cpu-hog.sh), not by a test"
    ),
}


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_every_listed_test_exists(claim: str) -> None:
    missing = [node_id for node_id in CLAIMS[claim] if not node_exists(node_id)]
    assert not missing, f"{claim!r} names tests that do not exist: {missing}"


def test_every_claim_has_a_test_or_says_why_not() -> None:
    unproven = sorted(claim for claim, tests in CLAIMS.items() if not tests and claim not in WITHOUT_TEST)
    assert not unproven, f"claims without a test and without a reason in WITHOUT_TEST: {unproven}"
    proven_yet_excused = sorted(claim for claim in WITHOUT_TEST if CLAIMS.get(claim))
    assert not proven_yet_excused, f"claims in WITHOUT_TEST that have tests now: {proven_yet_excused}"
    unknown = sorted(set(WITHOUT_TEST) - set(CLAIMS))
    assert not unknown, f"WITHOUT_TEST names claims that CLAIMS does not hold: {unknown}"
    assert all(reason.strip() for reason in WITHOUT_TEST.values())


def test_the_checker_sees_a_missing_test() -> None:
    """The existence check can fail: a made-up name, a missing file and a bare path are all refused."""
    assert node_exists(f"tests/test_guarantees.py::{test_the_checker_sees_a_missing_test.__name__}")
    assert node_exists("tests/test_guarantees.py::test_every_listed_test_exists[some claim]")
    assert not node_exists("tests/test_guarantees.py::test_that_was_never_written")
    assert not node_exists("tests/no_such_file.py::test_anything")
    assert not node_exists("tests/test_guarantees.py")
