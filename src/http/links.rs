//! OpenAPI links: where the value an operation needs comes from (a new webhook's `id` for its
//! `{id}` operations, a page's `next_cursor` for the next page), for clients and for stateful testing.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// (operation, status, link name, target operation, [(target parameter, runtime expression)]).
type LinkSpec = (&'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

const NEW_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];
const FIRST_ID: &[(&str, &str)] = &[("id", "$response.body#/items/0/id")];
const NEXT_PAGE: &[(&str, &str)] = &[("cursor", "$response.body#/next_cursor")];

const LINKS: &[LinkSpec] = &[
    ("create_webhook", "201", "GetWebhook", "get_webhook", NEW_ID),
    ("create_webhook", "201", "UpdateWebhook", "update_webhook", NEW_ID),
    ("create_webhook", "201", "TestWebhook", "test_webhook", NEW_ID),
    ("create_webhook", "201", "ListAttempts", "list_attempts", NEW_ID),
    ("create_webhook", "201", "DeleteWebhook", "delete_webhook", NEW_ID),
    ("list_webhooks", "200", "GetWebhook", "get_webhook", FIRST_ID),
    ("list_webhooks", "200", "ListAttempts", "list_attempts", FIRST_ID),
    ("list_webhooks", "200", "NextPage", "list_webhooks", NEXT_PAGE),
    ("create_rule", "201", "GetRule", "get_rule", NEW_ID),
    ("create_rule", "201", "UpdateRule", "update_rule", NEW_ID),
    ("create_rule", "201", "RuleIncidents", "list_incidents", &[("rule_id", "$response.body#/id")]),
    ("create_rule", "201", "DeleteRule", "delete_rule", NEW_ID),
    ("list_rules", "200", "GetRule", "get_rule", FIRST_ID),
    ("list_rules", "200", "NextPage", "list_rules", NEXT_PAGE),
    ("list_incidents", "200", "GetIncident", "get_incident", FIRST_ID),
    ("list_incidents", "200", "NextPage", "list_incidents", NEXT_PAGE),
    ("list_attempts", "200", "GetEvent", "get_event", &[("id", "$response.body#/items/0/event_id")]),
    (
        "list_attempts",
        "200",
        "RedeliverEvent",
        "redeliver",
        &[("id", "$response.body#/items/0/event_id"), ("webhook_id", "$response.body#/items/0/webhook_id")],
    ),
    ("list_attempts", "200", "NextPage", "list_attempts", NEXT_PAGE),
    ("test_webhook", "200", "GetEvent", "get_event", &[("id", "$response.body#/event_id")]),
    ("search", "200", "NextPage", "search", NEXT_PAGE),
    ("list_delivery_errors", "200", "NextPage", "list_delivery_errors", NEXT_PAGE),
];

/// Adds [`LINKS`] to the document's responses.
pub fn add(openapi: &mut OpenApi) {
    for (from, status, name, to, parameters) in LINKS {
        let operation = operation(openapi, from).unwrap_or_else(|| panic!("no operation {from}"));
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
            panic!("{from} documents no inline {status} response");
        };
        let link = parameters.iter().fold(LinkBuilder::new().operation_id(*to), |link, (param, expression)| {
            link.parameter(*param, *expression)
        });
        response.links.insert((*name).to_owned(), RefOr::T(link.build()));
    }
}

fn operation<'a>(openapi: &'a mut OpenApi, id: &str) -> Option<&'a mut Operation> {
    openapi.paths.paths.values_mut().find_map(|item| {
        [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
            .into_iter()
            .flatten()
            .find(|op| op.operation_id.as_deref() == Some(id))
    })
}
