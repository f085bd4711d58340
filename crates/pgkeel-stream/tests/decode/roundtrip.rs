//! Property tests without a server: any message, encoded as PostgreSQL does, decodes to itself
//! and none of its truncations decodes; random bytes never panic.

use bytes::Bytes;
use pgkeel_stream::Lsn;
use pgkeel_stream::pgoutput::{
    Column, Datum, Decoder, Message, OldTuple, PgTimestamp, Relation, Tuple,
};
use proptest::collection::vec;
use proptest::prelude::*;

use super::encode::encode;
use super::support::assert_only_whole_message_decodes;

fn lsn() -> impl Strategy<Value = Lsn> {
    any::<u64>().prop_map(Lsn)
}

fn time() -> impl Strategy<Value = PgTimestamp> {
    any::<i64>().prop_map(PgTimestamp)
}

fn name() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,8}"
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn datum() -> impl Strategy<Value = Datum> {
    prop_oneof![
        Just(Datum::Null),
        Just(Datum::UnchangedToast),
        bytes(12).prop_map(Datum::Text),
        bytes(12).prop_map(Datum::Binary),
    ]
}

fn tuple() -> impl Strategy<Value = Tuple> {
    vec(datum(), 0..6)
}

fn old_tuple() -> impl Strategy<Value = OldTuple> {
    prop_oneof![
        tuple().prop_map(OldTuple::Key),
        tuple().prop_map(OldTuple::Full)
    ]
}

fn column() -> impl Strategy<Value = Column> {
    (any::<bool>(), name(), any::<u32>(), any::<i32>()).prop_map(
        |(key, name, type_oid, type_modifier)| Column {
            key,
            name,
            type_oid,
            type_modifier,
        },
    )
}

/// Any message; `xid`s of row changes are present exactly when `in_stream`.
fn message(in_stream: bool) -> impl Strategy<Value = Message> {
    let xid = move || any::<u32>().prop_map(move |x| in_stream.then_some(x));
    let transaction = prop_oneof![
        (lsn(), time(), any::<u32>()).prop_map(|(final_lsn, commit_time, xid)| {
            Message::Begin {
                final_lsn,
                commit_time,
                xid,
            }
        }),
        (any::<u8>(), lsn(), lsn(), time()).prop_map(|(flags, commit_lsn, end_lsn, t)| {
            Message::Commit {
                flags,
                commit_lsn,
                end_lsn,
                commit_time: t,
            }
        }),
        (lsn(), name()).prop_map(|(commit_lsn, name)| Message::Origin { commit_lsn, name }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(xid, first_segment)| Message::StreamStart { xid, first_segment }),
        Just(Message::StreamStop),
        (any::<u32>(), any::<u8>(), lsn(), lsn(), time()).prop_map(
            |(xid, flags, commit_lsn, end_lsn, commit_time)| Message::StreamCommit {
                xid,
                flags,
                commit_lsn,
                end_lsn,
                commit_time,
            }
        ),
        (
            any::<u32>(),
            any::<u32>(),
            proptest::option::of((lsn(), time()))
        )
            .prop_map(|(xid, subxid, info)| Message::StreamAbort {
                xid,
                subxid,
                abort_lsn: info.map(|i| i.0),
                abort_time: info.map(|i| i.1),
            }),
    ];
    let two_phase = prop_oneof![
        (lsn(), lsn(), time(), any::<u32>(), name()).prop_map(
            |(prepare_lsn, end_lsn, prepare_time, xid, gid)| Message::BeginPrepare {
                prepare_lsn,
                end_lsn,
                prepare_time,
                xid,
                gid,
            }
        ),
        (
            any::<bool>(),
            any::<u8>(),
            lsn(),
            lsn(),
            time(),
            any::<u32>(),
            name()
        )
            .prop_map(
                |(streamed, flags, prepare_lsn, end_lsn, prepare_time, xid, gid)| {
                    if streamed {
                        Message::StreamPrepare {
                            flags,
                            prepare_lsn,
                            end_lsn,
                            prepare_time,
                            xid,
                            gid,
                        }
                    } else {
                        Message::Prepare {
                            flags,
                            prepare_lsn,
                            end_lsn,
                            prepare_time,
                            xid,
                            gid,
                        }
                    }
                }
            ),
        (any::<u8>(), lsn(), lsn(), time(), any::<u32>(), name()).prop_map(
            |(flags, commit_lsn, end_lsn, commit_time, xid, gid)| Message::CommitPrepared {
                flags,
                commit_lsn,
                end_lsn,
                commit_time,
                xid,
                gid,
            }
        ),
        (
            any::<u8>(),
            lsn(),
            lsn(),
            time(),
            time(),
            any::<u32>(),
            name()
        )
            .prop_map(
                |(
                    flags,
                    prepare_end_lsn,
                    rollback_end_lsn,
                    prepare_time,
                    rollback_time,
                    xid,
                    gid,
                )| {
                    Message::RollbackPrepared {
                        flags,
                        prepare_end_lsn,
                        rollback_end_lsn,
                        prepare_time,
                        rollback_time,
                        xid,
                        gid,
                    }
                }
            ),
    ];
    let changes = prop_oneof![
        (
            xid(),
            any::<u32>(),
            name(),
            name(),
            any::<u8>(),
            vec(column(), 0..5)
        )
            .prop_map(|(xid, oid, namespace, name, replica_identity, columns)| {
                Message::Relation(Relation {
                    xid,
                    oid,
                    namespace,
                    name,
                    replica_identity,
                    columns,
                })
            }),
        (xid(), any::<u32>(), name(), name()).prop_map(|(xid, oid, namespace, name)| {
            Message::Type {
                xid,
                oid,
                namespace,
                name,
            }
        }),
        (xid(), any::<u32>(), tuple()).prop_map(|(xid, relation, new)| Message::Insert {
            xid,
            relation,
            new
        }),
        (
            xid(),
            any::<u32>(),
            proptest::option::of(old_tuple()),
            tuple()
        )
            .prop_map(|(xid, relation, old, new)| Message::Update {
                xid,
                relation,
                old,
                new
            }),
        (xid(), any::<u32>(), old_tuple()).prop_map(|(xid, relation, old)| Message::Delete {
            xid,
            relation,
            old
        }),
        (xid(), any::<bool>(), any::<bool>(), vec(any::<u32>(), 0..5)).prop_map(
            |(xid, cascade, restart_identity, relations)| Message::Truncate {
                xid,
                cascade,
                restart_identity,
                relations,
            }
        ),
        (xid(), any::<bool>(), lsn(), name(), bytes(16)).prop_map(
            |(xid, transactional, lsn, prefix, content)| Message::LogicalMessage {
                xid,
                transactional,
                lsn,
                prefix,
                content,
            }
        ),
    ];
    prop_oneof![transaction, two_phase, changes]
}

/// The lowest protocol version that can carry `m`.
fn min_version(m: &Message) -> u32 {
    match m {
        Message::StreamAbort {
            abort_lsn: Some(_), ..
        } => 4,
        Message::StreamStart { .. }
        | Message::StreamStop
        | Message::StreamCommit { .. }
        | Message::StreamAbort { .. } => 2,
        Message::BeginPrepare { .. }
        | Message::Prepare { .. }
        | Message::CommitPrepared { .. }
        | Message::RollbackPrepared { .. }
        | Message::StreamPrepare { .. } => 3,
        _ => 1,
    }
}

/// A decoder for `version`, inside a streamed block when `in_stream`.
fn decoder(version: u32, in_stream: bool) -> Decoder {
    let mut d = Decoder::new(version);
    if in_stream {
        d.decode(&Bytes::from_static(&[b'S', 0, 0, 0, 9, 1]))
            .unwrap();
        assert!(d.in_stream());
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips_and_no_truncation_decodes(
        (in_stream, m) in any::<bool>().prop_flat_map(|s| (Just(s), message(s))),
        extra_version in 0u32..4,
    ) {
        // Inside a streamed block needs streaming, so protocol 2 at least.
        let floor = min_version(&m).max(if in_stream { 2 } else { 1 });
        let version = (floor + extra_version).min(4);
        let data = encode(&m);
        let d = decoder(version, in_stream);
        assert_only_whole_message_decodes(&d, &data);
        prop_assert_eq!(d.clone().decode(&data), Ok(m.clone()));
        // A version too low for the message: refused as a protocol mismatch.
        let low = min_version(&m);
        if low >= 2 && !matches!(m, Message::StreamAbort { abort_lsn: Some(_), .. }) {
            let err = decoder(low - 1, false).decode(&data).unwrap_err();
            prop_assert!(err.is_protocol_mismatch(), "{}", err);
        }
    }

    #[test]
    fn random_bytes_never_panic(
        tag in prop_oneof![
            proptest::sample::select(b"BCORYIUDTMSEcAbPKrp".to_vec()),
            any::<u8>()
        ],
        rest in vec(any::<u8>(), 0..80),
        version in 1u32..=4,
        in_stream in any::<bool>(),
    ) {
        let mut data = vec![tag];
        data.extend(rest);
        let data = Bytes::from(data);
        let mut d = decoder(version, in_stream && version >= 2);
        match d.decode(&data) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(e.offset() <= data.len());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
