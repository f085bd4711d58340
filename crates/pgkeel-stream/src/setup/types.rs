//! The types that are not built in, read from `pg_type` at start, so their values can be
//! typed (enums as strings, domains like their base type, arrays as JSON arrays).

use tokio_postgres::Client;

use crate::error::Error;

/// Types that are not built in (OID ≥ 16384: enums, domains, arrays of them, composites ...),
/// so their values can be typed: enums as strings, domains like their base type, arrays as
/// JSON arrays.
pub(crate) async fn custom_types(
    client: &Client,
) -> Result<std::collections::HashMap<u32, crate::value::CustomType>, Error> {
    use crate::value::CustomType;
    let rows = client
        .query(
            "SELECT oid::int8, typtype::text, typbasetype::int8, typelem::int8, typcategory::text \
             FROM pg_catalog.pg_type WHERE oid >= 16384",
            &[],
        )
        .await
        .map_err(|e| Error::postgres("reading the custom types", e))?;
    let oid = |v: i64| u32::try_from(v).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| {
            let kind: String = r.get(1);
            let category: String = r.get(4);
            let custom = match (kind.as_str(), category.as_str()) {
                ("e", _) => CustomType::Enum,
                ("d", _) => CustomType::Domain {
                    base: oid(r.get(2)),
                },
                (_, "A") if r.get::<_, i64>(3) != 0 => CustomType::Array {
                    element: oid(r.get(3)),
                },
                _ => CustomType::Other,
            };
            (oid(r.get(0)), custom)
        })
        .collect())
}
