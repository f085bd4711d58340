//! Column values: the array literal parser, and JSON from the text form real PostgreSQL writes
//! for each type.

use std::collections::HashMap;

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::value::{ArrayItem, CustomType, parse_array, to_json, to_json_with};
use serde_json::{Value, json};
use tokio_postgres::types::Type;

fn text(s: &str) -> ArrayItem {
    ArrayItem::Text(s.to_owned())
}

#[test]
fn parses_flat_quoted_and_escaped_elements() {
    assert_eq!(parse_array("{}", ',').unwrap(), vec![]);
    assert_eq!(parse_array(" { } ", ',').unwrap(), vec![]);
    assert_eq!(
        parse_array("{1,2,3}", ',').unwrap(),
        vec![text("1"), text("2"), text("3")]
    );
    assert_eq!(
        parse_array(
            r#"{"a b","with \"quotes\"","back\\slash","comma,inside","{brace}",""}"#,
            ','
        )
        .unwrap(),
        vec![
            text("a b"),
            text(r#"with "quotes""#),
            text(r"back\slash"),
            text("comma,inside"),
            text("{brace}"),
            text(""),
        ]
    );
    // Unquoted: surrounding space is dropped, a backslash escapes (and keeps) a character.
    assert_eq!(
        parse_array(r"{  a b  , x\ ,\,y}", ',').unwrap(),
        vec![text("a b"), text("x "), text(",y")]
    );
    assert_eq!(
        parse_array("{ünï,😀}", ',').unwrap(),
        vec![text("ünï"), text("😀")]
    );
}

#[test]
fn null_is_only_the_unquoted_word() {
    assert_eq!(
        parse_array(r#"{NULL,null,"NULL",\NULL,NULLx}"#, ',').unwrap(),
        vec![
            ArrayItem::Null,
            ArrayItem::Null,
            text("NULL"),
            text("NULL"),
            text("NULLx")
        ]
    );
}

#[test]
fn parses_nested_dimensions_and_other_delimiters() {
    assert_eq!(
        parse_array(r#"{{1,NULL},{"x",4}}"#, ',').unwrap(),
        vec![
            ArrayItem::Array(vec![text("1"), ArrayItem::Null]),
            ArrayItem::Array(vec![text("x"), text("4")]),
        ]
    );
    assert_eq!(
        parse_array("{{{1}},{{2}}}", ',').unwrap(),
        vec![
            ArrayItem::Array(vec![ArrayItem::Array(vec![text("1")])]),
            ArrayItem::Array(vec![ArrayItem::Array(vec![text("2")])]),
        ]
    );
    assert_eq!(
        parse_array("[0:1]={7,8}", ',').unwrap(),
        vec![text("7"), text("8")]
    );
    assert_eq!(
        parse_array("[0:1][1:1]={{7},{8}}", ',').unwrap(),
        vec![
            ArrayItem::Array(vec![text("7")]),
            ArrayItem::Array(vec![text("8")]),
        ]
    );
    assert_eq!(
        parse_array("{(1,1),(0,0);(2,2),(1,1)}", ';').unwrap(),
        vec![text("(1,1),(0,0)"), text("(2,2),(1,1)")]
    );
}

#[test]
fn rejects_malformed_literals_without_panicking() {
    for bad in [
        "",
        "1,2",
        "{",
        "{1",
        "{1,",
        "{1,}",
        "{,1}",
        "{1}x",
        r#"{"a}"#,
        r#"{a"b}"#,
        r"{a\",
        "{1 2 {3}}",
        "[1:2={1,2}",
        "[1:2]{1,2}",
        "{{{{{{{1}}}}}}}",
    ] {
        let error = parse_array(bad, ',').unwrap_err();
        assert!(error.position() <= bad.len(), "{bad:?}: {error}");
    }
    // Six dimensions are allowed (PostgreSQL's maximum).
    assert!(parse_array("{{{{{{1}}}}}}", ',').is_ok());
}

#[test]
fn converts_without_a_server() {
    let float8 = Type::FLOAT8.oid();
    assert_eq!(to_json(float8, b"1.5"), json!(1.5));
    assert_eq!(to_json(float8, b"NaN"), json!("NaN"));
    assert_eq!(to_json(float8, b"Infinity"), json!("Infinity"));
    assert_eq!(to_json(float8, b"-Infinity"), json!("-Infinity"));
    assert_eq!(
        to_json(Type::INT8.oid(), b"-9223372036854775808"),
        json!(i64::MIN)
    );
    assert_eq!(
        to_json(Type::OID.oid(), b"4294967295"),
        json!(4_294_967_295u32)
    );
    assert_eq!(to_json(Type::BOOL.oid(), b"t"), json!(true));
    assert_eq!(to_json(Type::JSONB.oid(), b"{not json"), json!("{not json"));
    // Whatever the session's TimeZone was, a timestamptz comes out in UTC.
    let tz = Type::TIMESTAMPTZ.oid();
    assert_eq!(
        to_json(tz, b"2026-01-01 02:00:00+05:30"),
        json!("2025-12-31T20:30:00.000000Z")
    );
    assert_eq!(
        to_json(tz, b"2026-02-28 20:00:00.5-08"),
        json!("2026-03-01T04:00:00.500000Z")
    );
    assert_eq!(
        to_json(tz, b"2026-11-22 10:00:00 BC"),
        json!("2026-11-22 10:00:00 BC")
    );
    // Not UTF-8: lossless `\x` hex, for any type.
    assert_eq!(to_json(Type::TEXT.oid(), b"a\xff"), json!("\\x61ff"));
    assert_eq!(to_json(999_999, b"\xc3"), json!("\\xc3"));
    // A malformed array literal stays its text.
    assert_eq!(to_json(Type::INT4_ARRAY.oid(), b"{1,"), json!("{1,"));
}

#[test]
fn custom_types_follow_the_lookup() {
    let (mood, mood_array, positive, positive_array, looping) =
        (90_001, 90_002, 90_003, 90_004, 90_005);
    let types = HashMap::from([
        (mood, CustomType::Enum),
        (mood_array, CustomType::Array { element: mood }),
        (
            positive,
            CustomType::Domain {
                base: Type::INT4.oid(),
            },
        ),
        (positive_array, CustomType::Array { element: positive }),
        (looping, CustomType::Domain { base: looping }),
    ]);
    assert_eq!(to_json_with(mood, b"happy", &types), json!("happy"));
    assert_eq!(
        to_json_with(mood_array, b"{happy,NULL,sad}", &types),
        json!(["happy", null, "sad"])
    );
    assert_eq!(to_json_with(positive, b"7", &types), json!(7));
    assert_eq!(
        to_json_with(positive_array, b"{{1},{2}}", &types),
        json!([[1], [2]])
    );
    assert_eq!(to_json_with(looping, b"x", &types), json!("x"));
    // Without the lookup, a custom type is its text form.
    assert_eq!(to_json(positive, b"7"), json!("7"));
    assert_eq!(to_json(mood_array, b"{happy}"), json!("{happy}"));
}

/// Each expression with the JSON its text form must become.
fn cases() -> Vec<(&'static str, Value)> {
    vec![
        ("1::int2", json!(1)),
        ("(-32768)::int2", json!(-32768)),
        ("2147483647::int4", json!(2_147_483_647)),
        (
            "9223372036854775807::int8",
            json!(9_223_372_036_854_775_807i64),
        ),
        ("4294967295::oid", json!(4_294_967_295u32)),
        ("1.5::float4", json!(1.5)),
        ("0.1::float4", json!(0.1)),
        ("0.1::float8", json!(0.1)),
        ("1e300::float8", json!(1e300)),
        ("'NaN'::float8", json!("NaN")),
        ("'Infinity'::float4", json!("Infinity")),
        ("'-Infinity'::float8", json!("-Infinity")),
        (
            "12345678901234567890.123456789::numeric",
            json!("12345678901234567890.123456789"),
        ),
        ("'NaN'::numeric", json!("NaN")),
        ("1.10::numeric(10,2)", json!("1.10")),
        ("true", json!(true)),
        ("false", json!(false)),
        ("'héllo'::text", json!("héllo")),
        ("'x'::varchar(5)", json!("x")),
        ("'ab'::char(4)", json!("ab  ")),
        ("'pg_class'::name", json!("pg_class")),
        ("'q'::\"char\"", json!("q")),
        (
            r#"'{"b": [1, 2.5, null], "a": "x"}'::json"#,
            json!({"b": [1, 2.5, null], "a": "x"}),
        ),
        (
            r#"'{"b": 1, "a": {"c": true}}'::jsonb"#,
            json!({"a": {"c": true}, "b": 1}),
        ),
        ("'\"just a string\"'::jsonb", json!("just a string")),
        (
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        (
            "'2026-11-22 10:00:00.123456+00'::timestamptz",
            json!("2026-11-22T10:00:00.123456Z"),
        ),
        (
            "'2026-11-22 12:00:00.5+02'::timestamptz",
            json!("2026-11-22T10:00:00.500000Z"),
        ),
        (
            "'2026-11-22 10:00:00+00'::timestamptz",
            json!("2026-11-22T10:00:00.000000Z"),
        ),
        ("'infinity'::timestamptz", json!("infinity")),
        ("'-infinity'::timestamptz", json!("-infinity")),
        (
            "'0044-03-15 12:00:00+00 BC'::timestamptz",
            json!("0044-03-15 12:00:00+00 BC"),
        ),
        (
            "'2026-11-22 10:00:00.123456'::timestamp",
            json!("2026-11-22T10:00:00.123456"),
        ),
        (
            "'2026-11-22 10:00:00'::timestamp",
            json!("2026-11-22T10:00:00.000000"),
        ),
        ("'infinity'::timestamp", json!("infinity")),
        ("'2026-11-22'::date", json!("2026-11-22")),
        ("'10:00:00.25'::time", json!("10:00:00.25")),
        ("'10:00:00+02'::timetz", json!("10:00:00+02")),
        ("'1 day 02:00:00'::interval", json!("P1DT2H")),
        ("'\\x00ff'::bytea", json!("\\x00ff")),
        ("'(1,2)'::point", json!("(1,2)")),
        ("'10.0.0.1/8'::inet", json!("10.0.0.1/8")),
        ("'{1,NULL,3}'::int4[]", json!([1, null, 3])),
        ("'{}'::int4[]", json!([])),
        ("'{{1,2},{3,4}}'::int8[]", json!([[1, 2], [3, 4]])),
        ("'[0:1]={5,6}'::int2[]", json!([5, 6])),
        (
            "ARRAY['a b', 'NULL', NULL, 'q\"uo\\te', '', '{}', 'x,y']::text[]",
            json!(["a b", "NULL", null, "q\"uo\\te", "", "{}", "x,y"]),
        ),
        ("ARRAY[1.5, 'NaN']::float8[]", json!([1.5, "NaN"])),
        (
            "ARRAY[12345678901234567890.123456789]::numeric[]",
            json!(["12345678901234567890.123456789"]),
        ),
        ("ARRAY[true, false]", json!([true, false])),
        (
            "ARRAY['2026-11-22 10:00:00.1+00'::timestamptz]",
            json!(["2026-11-22T10:00:00.100000Z"]),
        ),
        (
            "ARRAY['{\"a\": [1, \"x,y\"]}'::jsonb]",
            json!([{"a": [1, "x,y"]}]),
        ),
        (
            "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
            json!(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
        ),
        ("ARRAY['\\x01'::bytea]", json!(["\\x01"])),
        (
            "ARRAY['(1,1),(0,0)'::box, '(2,2),(1,1)'::box]",
            json!("{(1,1),(0,0);(2,2),(1,1)}"),
        ),
        ("'1 2 3'::int2vector", json!([1, 2, 3])),
        ("'sad'::mood", json!("sad")),
    ]
}

#[tokio::test]
async fn converts_the_text_form_of_real_values() {
    let db = TestDatabase::new();
    let client = pgkeel_testkit::connect(&db.url()).await;
    client
        .batch_execute(
            "SET datestyle = ISO; SET timezone = UTC; SET extra_float_digits = 3; \
             SET intervalstyle = iso_8601; CREATE TYPE mood AS ENUM ('happy', 'sad')",
        )
        .await
        .unwrap();
    // format('%s') calls the type's output function, as pgoutput does (a cast to text may
    // differ: true::text is 'true', the output function writes 't').
    for (expression, expected) in cases() {
        let row = client
            .query_one(
                &format!(
                    "SELECT format('%s', x), pg_typeof(x)::oid FROM (SELECT {expression} AS x) s"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{expression}: {e:?}"));
        let text: String = row.get(0);
        let oid: u32 = row.get(1);
        assert_eq!(
            to_json(oid, text.as_bytes()),
            expected,
            "{expression} (text form {text:?})"
        );
    }
}

#[tokio::test]
async fn timestamptz_is_utc_whatever_the_session_time_zone() {
    let db = TestDatabase::new();
    let client = pgkeel_testkit::connect(&db.url()).await;
    let instant = "2026-03-01 00:30:00.000001+00";
    for zone in [
        "UTC",
        "Asia/Kolkata",
        "America/St_Johns",
        "Pacific/Kiritimati",
        "Europe/Amsterdam",
    ] {
        client
            .batch_execute(&format!("SET datestyle = ISO; SET timezone = '{zone}'"))
            .await
            .unwrap();
        for (value, expected) in [
            (instant, "2026-03-01T00:30:00.000001Z"),
            // Local mean time before 1937: an offset with seconds (+00:19:32).
            ("1900-01-01 00:00:00+00", "1900-01-01T00:00:00.000000Z"),
        ] {
            let row = client
                .query_one(&format!("SELECT format('%s', '{value}'::timestamptz)"), &[])
                .await
                .unwrap();
            let text: String = row.get(0);
            assert_eq!(
                to_json(Type::TIMESTAMPTZ.oid(), text.as_bytes()),
                json!(expected),
                "{zone}: {text}"
            );
        }
    }
}
