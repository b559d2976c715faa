//! `anonymous`: anyone joins with the configured role and a random authid (an authid the client
//! asks for is ignored, as Crossbar does).

use wamp::router::AuthStep;

use super::outcome;
use crate::config::AnonymousAuth;

pub struct Anonymous {
    role: String,
}

impl Anonymous {
    pub fn new(config: &AnonymousAuth) -> Anonymous {
        Anonymous { role: config.role.clone() }
    }

    pub fn hello(&self) -> AuthStep {
        let authid = format!("anonymous-{}", wamp::ids::random_id());
        outcome::welcome_static(&authid, &self.role, "anonymous")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use wamp::dict;

    #[tokio::test]
    async fn joins_with_the_role_and_a_fresh_authid() {
        let auth = testing::transport_auth("[transports.auth.anonymous]\nrole = \"guest\"\n");
        let first = testing::welcome(testing::hello(&auth, dict! { "authid" => "root" }).await);
        let second = testing::welcome(testing::hello(&auth, dict! {}).await);
        assert_eq!(
            (first.authrole.as_str(), first.authmethod.as_str(), first.authprovider.as_str()),
            ("guest", "anonymous", "static")
        );
        assert!(first.authid.starts_with("anonymous-"), "{}", first.authid);
        assert_ne!(first.authid, second.authid);
    }
}
