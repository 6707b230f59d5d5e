//! Engine throughput: map + normalise + merge + plan of one pair, default mapping.
//!
//! `cargo bench -p contact-sync-engine --bench engine` prints time per batch of 1,000 pairs;
//! pairs per second = 1,000 / that time. Inputs are realistic raw bodies as the APIs return
//! them: formatted phones, mixed-case emails, addresses, a Genesys link; one pair in four has a
//! one-sided edit, one in ten a conflict. The timing covers mapping both raw bodies,
//! normalising, merging, planning (update bodies included) and dropping the records; it runs
//! on mimalloc, the allocator every shipped binary uses.

use chrono::{Duration, TimeZone, Utc};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::merge::MergeClock;
use contact_sync_engine::plan::{PairInput, PlanContext, plan_pair};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

/// The binaries' allocator (see the workspace `mimalloc` dependency).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Pair {
    sf: Value,
    gz: Value,
    base: contact_sync_engine::CanonicalContact,
}

fn pairs(mapping: &Mapping, n: usize) -> Vec<Pair> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("date");
    (0..n)
        .map(|i| {
            let sf_id = format!("003SM{i:010}AAA");
            let sf = json!({
                "attributes": {"type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{sf_id}")},
                "Id": sf_id, "FirstName": format!("First{i}"), "LastName": format!("Last{i}"),
                "Email": format!("Person.{i}@Example.com"), "Phone": format!("(415) 555-{:04}", i % 10_000),
                "MobilePhone": format!("415.555.{:04}", (i + 1) % 10_000), "Title": if i % 4 == 0 { "Lead" } else { "Agent" },
                "MailingStreet": format!("{i} Market St"), "MailingCity": "San Francisco", "MailingState": "CA",
                "MailingPostalCode": "94105", "MailingCountry": "US",
                "SystemModstamp": "2026-11-01T00:00:00.000+0000",
            });
            let gz = json!({
                "id": format!("5d2b2c4e-0000-4000-8000-{i:012}"), "firstName": format!("First{i}"), "lastName": format!("Last{i}"),
                "workEmail": format!("person.{i}@example.com"),
                "workPhone": {"display": format!("+1 415-555-{:04}", i % 10_000), "e164": format!("+1415555{:04}", i % 10_000)},
                "cellPhone": {"display": format!("+1 415-555-{:04}", (i + 1) % 10_000), "e164": format!("+1415555{:04}", (i + 1) % 10_000)},
                "title": if i % 10 == 0 { "Manager" } else { "Agent" },
                "address": {"address1": format!("{i} Market St"), "city": "San Francisco", "state": "CA", "postalCode": "94105", "countryCode": "US"},
                "externalIds": [{"externalSource": {"id": "src-1"}, "value": sf_id}],
                "modifyDate": "2026-11-01T00:00:00.000Z",
            });
            // The base: what both agreed on before this round's edits.
            let mut base_sf = sf.clone();
            base_sf["Title"] = json!("Agent");
            let base = mapping.salesforce_record(&sf_id, t0, &base_sf).fields;
            Pair { sf, gz, base }
        })
        .collect()
}

fn engine(c: &mut Criterion) {
    let mapping = Mapping::default_mapping();
    let input = pairs(&mapping, 1_000);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("date");
    let ctx = PlanContext {
        mapping: &mapping,
        clock: MergeClock::at(now),
        link_source_id: "src-1",
        instance_url: Some("https://example.my.salesforce.com"),
    };
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("map_normalise_merge_plan_1000_pairs", |b| {
        // The pipeline hands the engine bodies it owns (just decoded), so each iteration gets
        // its own copy, made outside the timing.
        b.iter_batched(
            || input.iter().map(|p| p.gz.clone()).collect::<Vec<Value>>(),
            |gz_bodies| {
                let mut writes = 0usize;
                for (p, gz_body) in input.iter().zip(gz_bodies) {
                    let sf_id = p.sf["Id"].as_str().unwrap_or_default();
                    let gz_id = p.gz["id"].as_str().unwrap_or_default();
                    let sf = mapping.salesforce_record(sf_id, now - Duration::hours(2), &p.sf);
                    let gz = mapping.genesys_record(
                        gz_id,
                        now - Duration::hours(1),
                        gz_body,
                        Some("src-1"),
                    );
                    let plan = plan_pair(
                        &ctx,
                        &PairInput {
                            base: Some(&p.base),
                            sf_id: Some(sf_id),
                            gz_id: Some(gz_id),
                            salesforce: Some(&sf),
                            genesys: Some(&gz),
                            salesforce_merged_into: None,
                            resolutions: None,
                        },
                    );
                    writes += usize::from(plan.salesforce.is_some())
                        + usize::from(plan.genesys.is_some());
                }
                black_box(writes)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
