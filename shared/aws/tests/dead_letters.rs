//! Listing and replaying the dead-letter queues on moto (fresh queues from `template.yaml` per
//! test). Needs `CONTACT_SYNC_MOTO_URL` (see `contact_sync_aws::emulator`).

use aws_sdk_sqs::Client;
use contact_sync_aws::dead_letters::{
    Content, DeadLetterQueue, DeadLetters, MessageKind, Selection,
};
use contact_sync_aws::emulator::Stack;

const BATCH: &str = r#"{"v":1,"integration":"default","run_id":"run-20261124T100000Z-a","pairs":[{"sf_id":"003A"},{"pair_id":"p-1"},{"gz_id":"g-2"}]}"#;
const EVENT: &str = r#"{"v":1,"integration":"default","run_id":"run-20261124T100000Z-a","conflict_id":"c-1","pair_id":"p-1","sf_id":"003A","gz_id":"g-1","field":"title","policy":"newest_wins","outcome":"genesys","at":"2026-11-24T10:00:00Z"}"#;
const GARBAGE: &str = r#"{"note":"not a message","email":"someone@example.com"}"#;

struct Queues {
    stack: Stack,
    sqs: Client,
}

impl Queues {
    async fn new(test: &str) -> Option<Queues> {
        let stack = Stack::create(test).await?;
        let sqs = Client::new(&stack.sdk);
        Some(Queues { stack, sqs })
    }

    fn url(&self, logical_id: &str) -> String {
        self.stack.resources.queue_url(logical_id).to_string()
    }

    async fn send(&self, logical_id: &str, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(self.url(logical_id))
            .message_body(body)
            .send()
            .await
            .expect("send")
            .message_id
            .expect("id")
    }

    /// Every body in a queue (received and deleted).
    async fn drain(&self, logical_id: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut empty = 0;
        while empty < 1 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(self.url(logical_id))
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
            }
            for m in messages {
                bodies.push(m.body.clone().unwrap_or_default());
                self.sqs
                    .delete_message()
                    .queue_url(self.url(logical_id))
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        bodies
    }

    async fn dead_letters(&self) -> DeadLetters {
        DeadLetters::discover(
            self.sqs.clone(),
            &[
                (MessageKind::Reconcile, self.url("ReconcileQueue")),
                (MessageKind::Conflict, self.url("ConflictQueue")),
            ],
        )
        .await
        .expect("discover")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_shows_ids_and_counts_and_leaves_every_message_in_place() {
    // GIVEN a reconcile batch and a malformed body in the reconcile DLQ, and a conflict event
    // in the conflict DLQ
    let Some(q) = Queues::new("dlq list").await else {
        return;
    };
    let batch_id = q.send("ReconcileDeadLetterQueue", BATCH).await;
    let garbage_id = q.send("ReconcileDeadLetterQueue", GARBAGE).await;
    let event_id = q.send("ConflictDeadLetterQueue", EVENT).await;
    let dlq = q.dead_letters().await;

    // WHEN the DLQs are found from the source queues' redrive policies and listed
    assert_eq!(dlq.queues()[0].url, q.url("ReconcileDeadLetterQueue"));
    assert_eq!(dlq.queues()[1].url, q.url("ConflictDeadLetterQueue"));
    let listed = dlq.list().await.expect("list");

    // THEN each message is there once with its kind, ids and counts
    assert_eq!(listed.len(), 3, "{listed:?}");
    let find = |id: &str| listed.iter().find(|l| l.message_id == id).expect("listed");
    let batch = find(&batch_id);
    assert_eq!(batch.kind, MessageKind::Reconcile);
    assert_eq!(
        batch.content,
        Content::Message {
            integration: "default".into(),
            run_id: "run-20261124T100000Z-a".into(),
            pairs: 3
        }
    );
    assert!(batch.receive_count >= Some(1), "{batch:?}");
    assert!(batch.first_received_at.is_some() && batch.sent_at.is_some());
    assert_eq!(find(&event_id).kind, MessageKind::Conflict);
    assert!(find(&garbage_id).is_malformed());
    // AND the listing as JSON carries no body text
    let json = serde_json::to_string(&listed).expect("json");
    assert!(
        !json.contains("example.com") && !json.contains("003A"),
        "{json}"
    );

    // WHEN listed again at once
    // THEN the same three are there (listing made them visible again)
    assert_eq!(dlq.list().await.expect("list again").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_moves_chosen_messages_back_and_leaves_malformed_ones_unless_forced() {
    // GIVEN two batches and a malformed body in the reconcile DLQ, an event in the conflict DLQ
    let Some(q) = Queues::new("dlq replay").await else {
        return;
    };
    let first = q.send("ReconcileDeadLetterQueue", BATCH).await;
    let second = q
        .send(
            "ReconcileDeadLetterQueue",
            &BATCH.replace("run-20261124T100000Z-a", "run-b"),
        )
        .await;
    let garbage = q.send("ReconcileDeadLetterQueue", GARBAGE).await;
    let event = q.send("ConflictDeadLetterQueue", EVENT).await;
    let dlq = q.dead_letters().await;

    // WHEN a dry run of everything is asked for
    let dry = dlq
        .replay(&Selection::All, false, true)
        .await
        .expect("dry run");
    // THEN it names what would move and what would not, and nothing moves
    assert!(dry.dry_run);
    let mut would = dry.replayed.clone();
    would.sort();
    let mut expected = vec![first.clone(), second.clone(), event.clone()];
    expected.sort();
    assert_eq!(would, expected);
    assert_eq!(dry.skipped_malformed, vec![garbage.clone()]);
    assert_eq!(dlq.list().await.expect("list").len(), 4);

    // WHEN one message is replayed by id, with an unknown id beside it
    let one = dlq
        .replay(
            &Selection::Ids(vec![first.clone(), "no-such-id".into()]),
            false,
            false,
        )
        .await
        .expect("replay one");
    // THEN only it left the DLQ, and the unknown id is reported
    assert_eq!(one.replayed, vec![first.clone()]);
    assert_eq!(one.not_found, vec!["no-such-id".to_string()]);
    assert_eq!(dlq.list().await.expect("list").len(), 3);

    // WHEN everything else is replayed without force
    let rest = dlq
        .replay(&Selection::All, false, false)
        .await
        .expect("replay all");
    // THEN the well-formed messages moved and the malformed one stayed
    assert_eq!(rest.replayed.len(), 2, "{rest:?}");
    assert_eq!(rest.skipped_malformed, vec![garbage.clone()]);
    let left = dlq.list().await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id, garbage);
    // AND the source queues hold the original bodies, unchanged
    let mut reconcile = q.drain("ReconcileQueue").await;
    reconcile.sort();
    let mut expected_bodies = vec![
        BATCH.to_string(),
        BATCH.replace("run-20261124T100000Z-a", "run-b"),
    ];
    expected_bodies.sort();
    assert_eq!(reconcile, expected_bodies);
    assert_eq!(q.drain("ConflictQueue").await, vec![EVENT.to_string()]);

    // WHEN the malformed one is replayed with force
    let forced = dlq
        .replay(&Selection::Ids(vec![garbage.clone()]), true, false)
        .await
        .expect("forced");
    // THEN it moves too, and the DLQs are empty
    assert_eq!(forced.replayed, vec![garbage]);
    assert!(dlq.list().await.expect("list").is_empty());
    assert_eq!(q.drain("ReconcileQueue").await, vec![GARBAGE.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_send_fails_stays_in_the_dead_letter_queue() {
    // GIVEN a batch in the reconcile DLQ and a replay target that does not exist
    let Some(q) = Queues::new("dlq replay failure").await else {
        return;
    };
    let id = q.send("ReconcileDeadLetterQueue", BATCH).await;
    let broken = DeadLetters::new(
        q.sqs.clone(),
        vec![DeadLetterQueue {
            kind: MessageKind::Reconcile,
            url: q.url("ReconcileDeadLetterQueue"),
            source_url: q
                .url("ReconcileQueue")
                .replace("ReconcileQueue", "NoSuchQueue"),
        }],
    );

    // WHEN it is replayed
    let report = broken
        .replay(&Selection::All, false, false)
        .await
        .expect("replay");

    // THEN the send failure is reported and the message was not deleted from the DLQ
    assert_eq!(report.failed, vec![id.clone()]);
    assert!(report.replayed.is_empty());
    let left = q.dead_letters().await.list().await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id, id);
}
