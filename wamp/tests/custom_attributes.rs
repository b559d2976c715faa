//! Custom attributes (`_name` keys) in PUBLISH options reach subscribers as EVENT details.

mod common;

use common::*;
use wamp::dict;
use wamp::{Dict, Message, Value};

#[tokio::test]
async fn custom_publish_options_become_event_details() {
    let r = router();
    let mut sub = Peer::join(&r).await;
    let mut publisher = Peer::join(&r).await;
    sub.subscribe_ok("com.example.t", Dict::new()).await;
    let options = dict! { "_event_id" => 42, "_X" => 1, "_ab" => 2, "exclude_me" => false };
    publisher.publish("com.example.t", options, vec![1.into()]).await;
    let Message::Event { details, .. } = sub.recv().await else { panic!("expected EVENT") };
    assert_eq!(details.get("_event_id"), Some(&Value::from(42)));
    assert!(!details.contains_key("_X"), "upper case is not a custom attribute");
    assert!(!details.contains_key("_ab"), "too short for a custom attribute");
    assert!(!details.contains_key("exclude_me"));
}
