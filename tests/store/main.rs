//! The shared store suite: every test runs against SQLite and against a real PostgreSQL.
//!
//! PostgreSQL comes from `BRYGGA_TEST_POSTGRES_URL`, which `scripts/test.sh` sets after starting
//! a throwaway cluster; each test gets a database of its own.

mod process;
mod suite;
mod support;

/// Every suite function, from both modules.
mod all {
    pub use crate::process::*;
    pub use crate::suite::*;
}

/// Runs each listed suite function once per backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::support::TestDb::sqlite().await;
                    crate::all::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::support::TestDb::postgres().await;
                    crate::all::$name(&db).await;
                }
            )*
        }
    };
}

/// Runs each listed suite function on one backend, as `MODULE::NAME`.
macro_rules! one_backend {
    ($module:ident, $backend:ident: $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::support::TestDb::$backend().await;
                    crate::all::$name(&db).await;
                }
            )*
        }
    };
}

// The suite functions that concern PostgreSQL alone.
one_backend!(
    postgres_only,
    postgres: settlements_find_their_rows_by_id_whatever_the_statistics_say_of_pending_rows,
    a_change_whose_reads_the_server_refuses_fails_alone_in_its_batch,
    receiving_reads_again_on_a_new_connection_after_the_server_ended_its_sessions,
);

both_backends!(
    statistics_facts_follow_every_instances_commits_and_reconcile,
    concurrent_reads_before_deciding_each_get_their_own_message_and_case,
    concurrent_changes_number_their_deliveries_without_gaps_or_repeats,
    readiness_reports_pending_migrations_until_they_are_applied,
    migrating_twice_is_harmless,
    a_commit_writes_events_outbox_timers_and_audit_together,
    a_received_message_id_is_processed_once,
    a_stale_version_is_a_conflict_and_writes_nothing,
    a_failed_commit_leaves_nothing_half_written,
    one_failing_commit_in_a_batch_leaves_the_others_committed,
    events_and_audit_records_cannot_be_changed_or_deleted,
    the_audit_chain_verifies_and_tampering_is_detected,
    the_audit_chain_is_verified_as_it_grows,
    a_person_gets_their_audit_extract,
    cases_are_found_by_person,
    outbox_rows_are_claimed_once_and_come_back_after_the_lease,
    a_claim_over_a_backlog_probes_for_each_cases_earlier_delivery,
    a_stored_delivery_that_cannot_be_read_is_dead_lettered_and_the_others_go,
    delivery_bookkeeping_never_leaves_the_writer_less_durable,
    bookkeeping_rides_in_a_batch_and_sees_the_rows_it_commits,
    settling_deliveries_together_answers_for_each_whether_its_claim_held,
    outbox_rows_can_be_retried_and_dead_lettered,
    concurrent_workers_on_two_instances_never_claim_a_row_twice,
    timers_fire_in_due_order_and_cancelled_timers_never_fire,
    a_timer_that_fell_due_while_the_gateway_was_down_fires_at_start,
    restarting_the_same_clock_is_idempotent,
    concurrent_commits_through_the_group_committer_all_land_once,
    the_group_committer_commits_and_claims,
    the_committer_is_saturated_while_many_changes_wait_for_it,
    within_one_group_a_conflict_or_duplicate_fails_alone,
    a_change_the_batch_checks_cannot_foresee_fails_alone,
    a_large_batch_of_new_and_existing_cases_is_written_whole,
    the_on_time_path_raises_no_deviation,
    every_missed_deadline_is_recorded_with_its_due_time_and_rule,
    planning_that_never_happened_is_a_deviation_to_whoever_answers_for_it,
    an_hvb_placement_in_a_municipalitys_own_case_runs_the_county_agreements_clocks,
    deadlines_over_christmas_move_to_the_next_working_day,
    the_admission_notice_clock_counts_elapsed_hours_over_the_dst_nights,
    a_revoked_ready_for_discharge_stops_its_clocks,
    timers_due_while_the_gateway_was_down_fire_at_start,
    two_instances_fire_each_timer_once,
    a_timer_claimed_twice_is_recorded_once,
    follow_up_statistics_count_what_happened_per_unit_and_period,
    invited_parties_that_confirm_no_participant_in_time_are_recorded,
    a_plan_not_followed_up_by_its_date_is_recorded_and_a_new_meeting_stops_the_clock,
    a_discharge_during_an_lvm_hold_is_recorded_at_once,
    an_lvm_hold_applies_to_a_person_at_the_hospital_admitted_or_not,
    psychiatric_care_with_substance_abuse_assumes_a_sip_is_needed,
    a_deviation_is_reminded_until_the_addressed_party_answers_it,
    an_unanswered_deviation_climbs_the_agreements_escalation_ladder,
    a_party_absent_from_the_meeting_without_notice_raises_a_deviation,
    a_party_that_sends_another_function_than_invited_is_absent_by_function,
    a_municipality_invitation_to_the_region_goes_to_the_units_involved_with_the_person,
    an_invitation_withheld_from_everyone_starts_no_clock_and_tells_its_sender,
    a_used_assertion_is_refused_on_every_instance_and_both_outcomes_are_audited,
    the_consent_registry_keeps_case_directives_and_withdrawals,
    per_destination_a_cases_rows_are_claimed_in_order,
    finished_deliveries_are_pruned_after_their_retention,
    two_instances_deliver_every_row_exactly_once,
    kvittenser_mark_their_deliveries_done_and_events_are_numbered_per_subscription,
    closed_cases_with_nothing_left_to_do_are_deleted_after_their_retention,
    old_audit_records_are_deleted_in_order_and_the_rest_still_verifies,
    kept_resources_are_versioned_per_organisation_and_a_stale_version_writes_nothing,
    a_case_person_is_found_by_the_id_of_their_patient,
    audit_records_of_reads_ride_in_a_batch_and_keep_the_chain,
    deliveries_written_before_the_outbox_index_change_keep_their_ids,
);
