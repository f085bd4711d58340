//! The built-in type OIDs that convert to something other than their text form.

/// How the text form of a built-in scalar type converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Bool,
    Integer,
    Float,
    Json,
    Timestamp,
    Timestamptz,
    /// int2vector, oidvector: space-separated integers.
    IntVector,
}

// Stable OIDs from PostgreSQL's pg_type.dat (checked against postgres-types in the tests).
const BOOL: u32 = 16;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT2_VECTOR: u32 = 22;
const INT4: u32 = 23;
const OID: u32 = 26;
const XID: u32 = 28;
const CID: u32 = 29;
const OID_VECTOR: u32 = 30;
const JSON: u32 = 114;
/// box: the one built-in type whose arrays use `;` between elements.
pub(crate) const BOX: u32 = 603;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const JSONB: u32 = 3802;
const XID8: u32 = 5069;

/// The conversion of a built-in scalar type; `None` for text-like types, arrays and types that
/// are not built in.
pub(crate) fn scalar(oid: u32) -> Option<Scalar> {
    Some(match oid {
        BOOL => Scalar::Bool,
        INT2 | INT4 | INT8 | OID | XID | XID8 | CID => Scalar::Integer,
        FLOAT4 | FLOAT8 => Scalar::Float,
        JSON | JSONB => Scalar::Json,
        TIMESTAMP => Scalar::Timestamp,
        TIMESTAMPTZ => Scalar::Timestamptz,
        INT2_VECTOR | OID_VECTOR => Scalar::IntVector,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::types::Type;

    #[test]
    fn oids_match_postgres_types() {
        let table = [
            (BOOL, Type::BOOL),
            (INT8, Type::INT8),
            (INT2, Type::INT2),
            (INT2_VECTOR, Type::INT2_VECTOR),
            (INT4, Type::INT4),
            (OID, Type::OID),
            (XID, Type::XID),
            (CID, Type::CID),
            (OID_VECTOR, Type::OID_VECTOR),
            (JSON, Type::JSON),
            (BOX, Type::BOX),
            (FLOAT4, Type::FLOAT4),
            (FLOAT8, Type::FLOAT8),
            (TIMESTAMP, Type::TIMESTAMP),
            (TIMESTAMPTZ, Type::TIMESTAMPTZ),
            (JSONB, Type::JSONB),
            (XID8, Type::XID8),
        ];
        for (oid, ty) in table {
            assert_eq!(oid, ty.oid(), "{}", ty.name());
        }
    }
}
