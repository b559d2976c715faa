//! The event envelope `WAMP.PUBLISH` enqueues: UTF-8 JSON in a RAW AQ payload. Pure.
//!
//! ```json
//! {"id": 42, "topic": "com.example.hr.on_hire", "args": [7], "kwargs": {"name": "Ada"}, "options": {}}
//! ```
//! `id` comes from the sequence `WAMP_EVENT_SEQ`: unique and stable, it reaches subscribers as
//! the `_event_id` detail. An envelope too large for a RAW payload (32 000 bytes) is stored in
//! `WAMP_EVENT_OVERFLOW` and the message carries only `{"overflow": <id>}`; the pump takes it in
//! the same transaction as the dequeue (`WAMP_CONSUMER.TAKE_OVERFLOW`).

use bridge::convert::{from_json, to_json};
use wamp::{Dict, List, Value};

/// One event as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: i64,
    pub topic: String,
    pub args: List,
    pub kwargs: Dict,
    pub options: Dict,
}

/// What a message payload holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Event(Envelope),
    /// The envelope is in the overflow table under this id.
    Overflow(i64),
}

/// Encodes an envelope as `WAMP.PUBLISH` does (for tests and tools; the database encodes its own).
pub fn encode(e: &Envelope) -> Result<Vec<u8>, String> {
    let json = serde_json::json!({
        "id": e.id,
        "topic": e.topic,
        "args": to_json(&Value::List(e.args.clone()))?,
        "kwargs": to_json(&Value::Dict(e.kwargs.clone()))?,
        "options": to_json(&Value::Dict(e.options.clone()))?,
    });
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// The payload of an overflowed envelope.
pub fn encode_overflow(id: i64) -> Vec<u8> {
    format!("{{\"overflow\":{id}}}").into_bytes()
}

/// Decodes a message payload.
pub fn decode(bytes: &[u8]) -> Result<Payload, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    decode_text(text)
}

/// Decodes envelope text (a payload, or an overflow row's CLOB).
pub fn decode_text(text: &str) -> Result<Payload, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(mut o) = json else { return Err("the envelope is not a JSON object".into()) };
    if let Some(id) = o.get("overflow") {
        return id.as_i64().map(Payload::Overflow).ok_or_else(|| "overflow reference is not an integer".into());
    }
    let id = o.get("id").and_then(serde_json::Value::as_i64).ok_or("missing integer 'id'")?;
    let topic = match o.remove("topic") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => t,
        _ => return Err("missing 'topic'".into()),
    };
    let args = match o.remove("args").map(from_json) {
        None | Some(Value::Null) => List::new(),
        Some(Value::List(l)) => l,
        Some(other) => return Err(format!("'args' is {}, not a list", other.type_name())),
    };
    let mut dict = |key: &str| match o.remove(key).map(from_json) {
        None | Some(Value::Null) => Ok(Dict::new()),
        Some(Value::Dict(d)) => Ok(d),
        Some(other) => Err(format!("'{key}' is {}, not an object", other.type_name())),
    };
    let kwargs = dict("kwargs")?;
    let options = dict("options")?;
    Ok(Payload::Event(Envelope { id, topic, args, kwargs, options }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wamp::dict;

    #[test]
    fn round_trip() {
        let e = Envelope {
            id: 42,
            topic: "com.example.hr.on_hire".into(),
            args: vec![7.into(), "ü".into()],
            kwargs: dict! {"name" => "Ada", "tags" => Value::List(vec![Value::Null])},
            options: dict! {"exclude_me" => false},
        };
        assert_eq!(decode(&encode(&e).unwrap()), Ok(Payload::Event(e)));
    }

    #[test]
    fn what_wamp_publish_writes_decodes() {
        // PL/SQL splices p_args/p_kwargs/p_options as given, NULL ones as null.
        let raw = br#"{"id":3,"topic":"t.x","args":null,"kwargs":{"a":1},"options":null}"#;
        let Payload::Event(e) = decode(raw).unwrap() else { panic!() };
        assert_eq!((e.id, e.topic.as_str(), e.args.len(), e.kwargs.len(), e.options.len()), (3, "t.x", 0, 1, 0));
    }

    #[test]
    fn overflow_references() {
        assert_eq!(decode(&encode_overflow(99)), Ok(Payload::Overflow(99)));
        assert_eq!(decode(br#"{"overflow": 5}"#), Ok(Payload::Overflow(5)));
        assert!(decode(br#"{"overflow": "5"}"#).is_err());
    }

    #[test]
    fn malformed_envelopes_say_why() {
        assert!(decode(&[0xff]).unwrap_err().starts_with("not UTF-8"));
        assert!(decode(b"[1]").unwrap_err().contains("not a JSON object"));
        assert_eq!(decode(br#"{"topic":"t"}"#).unwrap_err(), "missing integer 'id'");
        assert_eq!(decode(br#"{"id":1}"#).unwrap_err(), "missing 'topic'");
        assert_eq!(decode(br#"{"id":1,"topic":"t","args":{}}"#).unwrap_err(), "'args' is dict, not a list");
        assert_eq!(decode(br#"{"id":1,"topic":"t","kwargs":[]}"#).unwrap_err(), "'kwargs' is list, not an object");
        assert!(encode(&Envelope { id: 1, topic: "t".into(), args: vec![Value::Bytes(vec![1])], kwargs: Dict::new(), options: Dict::new() }).is_err());
    }
}
