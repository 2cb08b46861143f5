//! Tests of distinguished names: parsing, rendering and matching.

use super::*;
use proptest::prelude::*;

fn dn(s: &str) -> DistinguishedName {
    DistinguishedName::parse(s).unwrap()
}

fn err(s: &str) -> String {
    DistinguishedName::parse(s).unwrap_err().to_string()
}

fn values(d: &DistinguishedName) -> Vec<(String, String)> {
    d.attributes()
        .map(|(t, v, _)| (t.name().to_string(), v.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn matching_ignores_order_case_and_extra_attributes() {
    let cert = dn("C=US, O=contoso ltd, CN=CONTOSO LTD, L=Redmond");
    assert!(cert.matches(&dn("CN=Contoso Ltd, O=Contoso Ltd")));
    assert!(cert.matches(&dn("o=CONTOSO LTD")));
    assert!(cert.matches(&dn("commonName = \"  Contoso Ltd \"")));
    assert!(!cert.matches(&dn("CN=Contoso Ltd, OU=Signing")));
    assert!(!cert.matches(&dn("CN=Contoso")));
    assert!(!cert.matches(&dn("O=Contoso Ltd, L=Seattle")));
    // The type matters, not just the value.
    assert!(!cert.matches(&dn("OU=Contoso Ltd")));
    // Every attribute of the condition must be present, repeats included.
    let multi = dn("OU=a, OU=b, CN=x");
    assert!(multi.matches(&dn("OU=B, OU=A")));
    assert!(!multi.matches(&dn("OU=a, OU=c")));
    // Unicode lowercase per character.
    assert!(dn("CN=ÉCOLE ΣΟΦΙΑ").matches(&dn("CN=école σοφια")));
}

#[test]
fn aliases_and_oids() {
    assert!(dn("S=Washington").matches(&dn("ST=washington")));
    assert_eq!(dn("S=x"), dn("st=x"));
    assert_eq!(dn("stateOrProvinceName=x"), dn("ST=x"));
    assert_eq!(dn("OID.2.5.4.3=x"), dn("CN=x"));
    assert_eq!(dn("oid.2.5.4.3=x"), dn("2.5.4.3=x"));
    assert_eq!(dn("EMAILADDRESS=a@b.c"), dn("E=a@b.c"));
    assert_eq!(dn("emailAddress=a@b.c"), dn("email=a@b.c"));
    assert_eq!(dn("GN=x, SURNAME=y"), dn("G=x, SN=y"));
    assert_eq!(dn("serialNumber=1").to_string(), "SERIALNUMBER=1");
    assert_eq!(dn("0.9.2342.19200300.100.1.25=com").to_string(), "DC=com");
    let other = dn("OID.1.3.6.1.4.1.311.60.2.1.3=US, businessCategory=Private Organization");
    assert_eq!(
        other.to_string(),
        "1.3.6.1.4.1.311.60.2.1.3=US, BUSINESSCATEGORY=Private Organization"
    );
    let (t, _, _) = other.attributes().next().unwrap();
    assert_eq!(t.oid(), Some("1.3.6.1.4.1.311.60.2.1.3"));
    assert_eq!(AttributeType::Title.oid(), Some("2.5.4.12"));
    assert_eq!(
        "businesscategory".parse::<AttributeType>().unwrap().oid(),
        None
    );
    assert!(dn("businessCategory=x").matches(&dn("BUSINESSCATEGORY=X")));
}

#[test]
fn quoting_and_escapes() {
    assert_eq!(
        values(&dn(r#"O="Contoso, Ltd.", CN=x"#)),
        pairs(&[("O", "Contoso, Ltd."), ("CN", "x")])
    );
    assert_eq!(
        values(&dn(r#"CN="say \"hi\" \\ now""#)),
        pairs(&[("CN", r#"say "hi" \ now"#)])
    );
    assert_eq!(
        values(&dn(r"CN=a\,b\+c\;d\<e\>f\=g\\h\#\ ")),
        pairs(&[("CN", r"a,b+c;d<e>f=g\h# ")])
    );
    assert_eq!(values(&dn(r"CN=caf\C3\A9")), pairs(&[("CN", "café")]));
    assert_eq!(values(&dn(r"CN=\20x\20")), pairs(&[("CN", " x ")]));
    // `+` splits a multi-valued RDN into separate attributes.
    assert_eq!(
        values(&dn("CN=a+UID=b; O=c")),
        pairs(&[("CN", "a"), ("UID", "b"), ("O", "c")])
    );
    // Whitespace around separators and `=` is ignored, inside kept.
    assert_eq!(
        values(&dn("  CN  =  Contoso   Ltd  ,O=x  ")),
        pairs(&[("CN", "Contoso   Ltd"), ("O", "x")])
    );
    // Empty values are allowed.
    assert_eq!(values(&dn("CN=, O=\"\"")), pairs(&[("CN", ""), ("O", "")]));
    // A stray quote inside an unquoted value and a leading `#` are text.
    assert_eq!(
        values(&dn("CN=a\"b, O=#04")),
        pairs(&[("CN", "a\"b"), ("O", "#04")])
    );
}

#[test]
fn openssl_one_line_form() {
    let d = dn("/C=US/O=Contoso, Ltd./CN=Contoso Code Signing");
    assert_eq!(
        values(&d),
        pairs(&[
            ("C", "US"),
            ("O", "Contoso, Ltd."),
            ("CN", "Contoso Code Signing")
        ])
    );
    assert_eq!(values(&dn(r" /CN=a\/b")), pairs(&[("CN", "a/b")]));
    assert!(d.matches(&dn("O=\"contoso, ltd.\"")));
}

#[test]
fn display_is_canonical() {
    assert_eq!(
        dn("commonName=Contoso Ltd;o=\"Contoso, Ltd.\"").to_string(),
        r"CN=Contoso Ltd, O=Contoso\, Ltd."
    );
    assert_eq!(dn(r"CN=\ #a\ ").to_string(), r"CN=\ #a\ ");
    assert_eq!(dn(r"CN=\#a#").to_string(), r"CN=\#a#");
    assert_eq!(dn(r"CN=\09x").to_string(), r"CN=\09x");
    assert_eq!(dn("CN=").to_string(), "CN=");
}

#[test]
fn errors() {
    assert_eq!(
        err(""),
        "empty distinguished name: expected attributes like `CN=Contoso Ltd, O=Contoso Ltd`"
    );
    assert!(err("   ").starts_with("empty distinguished name"));
    assert_eq!(
        err("CN=a, Contoso"),
        "`Contoso` at position 7 is not an attribute: expected `type=value`"
    );
    assert_eq!(err("=a"), "missing attribute type before `=` at position 1");
    assert_eq!(
        err("CN=a,  =b"),
        "missing attribute type before `=` at position 8"
    );
    assert_eq!(
        err("CN=a,,O=b"),
        "missing attribute at position 6: a separator is doubled or comes last"
    );
    assert!(err("CN=a,").starts_with("missing attribute at position 6"));
    assert!(err("/").starts_with("missing attribute at position 2"));
    assert_eq!(
        err("CN=a, O=\"Contoso"),
        "unterminated quote in the value of `O` starting at position 9"
    );
    assert_eq!(
        err("CN=\"a\" b"),
        "unexpected text at position 8 after the quoted value of `CN`"
    );
    assert!(err(r"CN=a\x").starts_with("invalid escape at position 5 in the value of `CN`"));
    assert!(err(r"CN=a\4").starts_with("invalid escape at position 5"));
    assert!(err(r"CN=a\4g").starts_with("invalid escape at position 5"));
    assert!(err("commonName=a\\")
        .starts_with("invalid escape at position 13 in the value of `commonName`"));
    assert_eq!(
        err(r"CN=\C3"),
        "the `\\XX` escapes in the value of `CN` at position 4 do not form valid UTF-8"
    );
    assert_eq!(
        err("C N=x"),
        "`C N` is not an attribute type: use a name like `CN` or an OID like `2.5.4.3`"
    );
    assert!(err("OID.CN=x").starts_with("`OID.CN` is not an attribute type"));
    assert!(err("2.5.04.3=x").starts_with("`2.5.04.3` is not an attribute type"));
    assert!(err("2=x").starts_with("`2` is not an attribute type"));
    assert!(err("é=x").starts_with("`é` is not an attribute type"));
    // Positions count characters, not bytes.
    assert!(err("CN=é, x").starts_with("`x` at position 7"));
}

#[test]
fn hostile_input_does_not_panic() {
    let long = "x".repeat(1_000_000);
    assert_eq!(
        dn(&format!("CN={long}"))
            .get(&AttributeType::CommonName)
            .unwrap()
            .len(),
        1_000_000
    );
    let e = err(&long);
    assert!(e.len() < 200, "{e}");
    let many = "CN=a,".repeat(100_000) + "O=b";
    assert_eq!(dn(&many).attributes().len(), 100_001);
    let _ = DistinguishedName::parse(&"\\".repeat(100_001));
    let _ = DistinguishedName::parse(&"\"".repeat(100_001));
    let _ = DistinguishedName::parse(&"=".repeat(100_001));
    let _ = DistinguishedName::parse(&"/".repeat(100_001));
    let _ = DistinguishedName::parse(&"CN=\\".repeat(100_001));
}

#[test]
fn from_attributes_normalises_types() {
    let d = DistinguishedName::from_attributes([
        (AttributeType::Other("oid.2.5.4.3".into()), "x".into()),
        (AttributeType::Other("jurisdictionC".into()), " y ".into()),
    ])
    .unwrap();
    assert_eq!(d.to_string(), r"CN=x, JURISDICTIONC=\ y\ ");
    assert_eq!(DistinguishedName::parse(&d.to_string()).unwrap(), d);
    assert!(DistinguishedName::from_attributes([]).is_err());
    assert!(DistinguishedName::from_attributes([(
        AttributeType::Other("a b".into()),
        String::new()
    )])
    .is_err());
}

#[test]
fn serde_as_string() {
    let d = dn("O=\"Contoso, Ltd.\", CN=x");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, r#""O=Contoso\\, Ltd., CN=x""#);
    assert_eq!(serde_json::from_str::<DistinguishedName>(&json).unwrap(), d);
    let e = serde_json::from_str::<DistinguishedName>("\"CN=a,,\"").unwrap_err();
    assert!(e.to_string().starts_with("missing attribute at position 6"));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<DistinguishedName>();
    check::<AttributeType>();
    check::<DnError>();
}

fn attribute_type() -> impl Strategy<Value = AttributeType> {
    prop_oneof![
        Just(AttributeType::CommonName),
        Just(AttributeType::Organization),
        Just(AttributeType::StateOrProvince),
        Just(AttributeType::Email),
        Just(AttributeType::SerialNumber),
        "[A-Za-z][A-Za-z0-9-]{0,12}".prop_map(AttributeType::Other),
        "(0|[1-9][0-9]{0,4})(\\.(0|[1-9][0-9]{0,4})){1,5}".prop_map(AttributeType::Other),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}",
        "[ ,+\"\\\\<>;=#/a\t\u{a0}\u{3000}é]{0,12}",
        ".{0,12}",
    ]
}

proptest! {
    #[test]
    fn display_round_trips(attrs in proptest::collection::vec((attribute_type(), value()), 1..6)) {
        let d = DistinguishedName::from_attributes(attrs).unwrap();
        let text = d.to_string();
        let back = DistinguishedName::parse(&text).unwrap();
        prop_assert_eq!(&back, &d, "{}", text);
        prop_assert!(back.matches(&d));
    }

    #[test]
    fn matching_is_reflexive_and_case_blind(attrs in proptest::collection::vec((attribute_type(), "[a-zA-Z ]{0,10}"), 1..6)) {
        let d = DistinguishedName::from_attributes(attrs.clone()).unwrap();
        let upper = DistinguishedName::from_attributes(
            attrs.into_iter().rev().map(|(t, v)| (t, format!(" {} ", v.to_uppercase()))),
        ).unwrap();
        prop_assert!(d.matches(&upper));
        prop_assert!(upper.matches(&d));
        // The index looks attributes up by key: folding must not change it.
        let mut reversed: Vec<u64> = upper.attribute_keys().collect();
        reversed.reverse();
        prop_assert_eq!(d.attribute_keys().collect::<Vec<_>>(), reversed);
    }

    #[test]
    fn never_panics(s in ".{0,60}|[a-zA-Z=,;+/\\\\\" #0-9]{0,60}") {
        let _ = DistinguishedName::parse(&s);
    }
}
