//! Shared by the decoder tests: a connection, a slot that is dropped even when the test fails,
//! the changes it yields, and their decoding with a check on every truncation.

use bytes::Bytes;
use pgkeel_embedded::Cluster;
use pgkeel_stream::Lsn;
use pgkeel_stream::pgoutput::{Decoder, Message, Oid};
use tokio_postgres::Client;

pub(super) use pgkeel_testkit::connect;

/// A logical replication slot with pgoutput, dropped with the value (also when a test panics).
pub(super) struct Slot<'a> {
    cluster: &'a Cluster,
    /// The slot's name.
    pub(super) name: String,
}

impl<'a> Slot<'a> {
    /// Creates slot `slot_<database>` (unique: one database per test) in the client's database,
    /// with two-phase decoding when `two_phase`.
    pub(super) async fn create(
        cluster: &'a Cluster,
        client: &Client,
        database: &str,
        two_phase: bool,
    ) -> Slot<'a> {
        let name = format!("slot_{database}");
        client
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput', false, $2)",
                &[&name, &two_phase],
            )
            .await
            .unwrap();
        Slot { cluster, name }
    }

    /// Consumes the changes so far with these pgoutput options (`name, value, …`).
    pub(super) async fn changes(&self, client: &Client, options: &[&str]) -> Vec<Change> {
        let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
        let rows = client
            .query(
                "SELECT lsn::text, xid::text, data \
                 FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, VARIADIC $2::text[])",
                &[&self.name, &options],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|row| Change {
                lsn: row.get::<_, String>(0).parse().unwrap(),
                xid: row.get::<_, String>(1).parse().unwrap(),
                data: Bytes::from(row.get::<_, Vec<u8>>(2)),
            })
            .collect()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let sql = format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{}'",
            self.name
        );
        if let Err(e) = self.cluster.admin_query(&sql) {
            eprintln!("cannot drop slot {}: {e}", self.name);
        }
    }
}

/// pgoutput options for protocol 1 with publication `pub` and logical messages.
pub(super) const V1: &[&str] = &[
    "proto_version",
    "1",
    "publication_names",
    "pub",
    "messages",
    "true",
];

/// One row of `pg_logical_slot_get_binary_changes`: one pgoutput message.
#[derive(Debug, Clone)]
pub(super) struct Change {
    /// Where the message's record is.
    pub(super) lsn: Lsn,
    /// The transaction it belongs to (0 for a non-transactional message).
    pub(super) xid: u32,
    /// The pgoutput message.
    pub(super) data: Bytes,
}

/// Decodes every change in order with one decoder for `version`, checking on the way that
/// every shorter prefix and every one-byte extension of each message is an error.
pub(super) fn decode_all(version: u32, changes: &[Change]) -> Vec<Message> {
    let mut decoder = Decoder::new(version);
    changes
        .iter()
        .map(|change| {
            assert_only_whole_message_decodes(&decoder, &change.data);
            decoder.decode(&change.data).unwrap_or_else(|e| {
                panic!("{e}; message {:02x?}", change.data.as_ref());
            })
        })
        .collect()
}

/// Every truncation of `data` and `data` plus one byte fail with `decoder` in its state; the
/// one exception is a protocol 4 Stream Abort cut right after its xids, which is whole.
pub(super) fn assert_only_whole_message_decodes(decoder: &Decoder, data: &Bytes) {
    for len in 0..data.len() {
        let prefix = data.slice(..len);
        let result = decoder.clone().decode(&prefix);
        let whole_abort = data.first() == Some(&b'A') && decoder.proto_version() >= 4 && len == 9;
        assert!(
            result.is_err() || whole_abort,
            "prefix of {len} of {} bytes decoded: {result:?}",
            data.len()
        );
    }
    let mut longer = data.to_vec();
    longer.push(0);
    let longer = Bytes::from(longer);
    assert!(decoder.clone().decode(&longer).is_err());
}

/// The one-letter tags of the messages, e.g. `"BRIC"`.
pub(super) fn tags(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| c.data.first().map_or('?', |&b| char::from(b)))
        .collect()
}

/// The oid of `table`.
pub(super) async fn oid(client: &Client, table: &str) -> Oid {
    client
        .query_one("SELECT $1::text::regclass::oid", &[&table])
        .await
        .unwrap()
        .get(0)
}

/// Text datum helper.
pub(super) fn text(s: &str) -> pgkeel_stream::pgoutput::Datum {
    pgkeel_stream::pgoutput::Datum::Text(Bytes::copy_from_slice(s.as_bytes()))
}
