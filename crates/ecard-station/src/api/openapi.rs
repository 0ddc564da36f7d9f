//! `GET /api/v1/openapi.json`: the HTTP API described as OpenAPI 3.1, built in code from one table
//! of routes ([`ROUTES`]) with utoipa's typed model, and the job's JSON schema derived from the
//! `Job` type itself, so the document changes with the code. A test holds the table to the
//! router: every route the router serves must be in the document.
//!
//! The document carries no personal data and is served without a token, like `/healthz`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::PartialSchema as _;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, Ref, Required, ResponseBuilder,
};

/// One route as the document describes it.
pub(crate) struct Route {
    /// `GET` or `POST`.
    pub(crate) method: &'static str,
    /// The path under the server root, with `{id}` style parameters.
    pub(crate) path: &'static str,
    /// Who may call it (`public` when no token is needed).
    pub(crate) roles: &'static str,
    /// One line on what it does.
    pub(crate) summary: &'static str,
    /// Query parameters: name and meaning.
    pub(crate) query: &'static [(&'static str, &'static str)],
    /// The request body's media type and schema reference, if any.
    pub(crate) body: Option<(&'static str, &'static str)>,
    /// The success status, media type and schema reference (empty: no schema).
    pub(crate) ok: (&'static str, &'static str, &'static str),
}

const JSON: &str = "application/json";

/// Every route the station serves under `/api/v1` and its console's JSON routes.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/v1/enrollments",
        roles: "intake",
        summary: "Submit an enrollment record (ECARD.md section 2); 202 with the job, 422 listing every problem, 409 on a duplicate holder or replacement",
        query: &[],
        body: Some((JSON, "Enrollment")),
        ok: ("202", JSON, "Job"),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs",
        roles: "operator, qa",
        summary: "List jobs, newest first",
        query: &[
            ("state", "only jobs in this state"),
            ("limit", "at most this many (default 100, at most 1000)"),
            ("q", "application id or number digits to search for"),
        ],
        body: None,
        ok: ("200", JSON, "JobList"),
    },
    Route {
        method: "GET",
        path: "/api/v1/jobs/{id}",
        roles: "operator, qa, intake",
        summary: "One job's state and its card's access number `can` (operator, QA; no personal data)",
        query: &[],
        body: None,
        ok: ("200", JSON, "Job"),
    },
    Route {
        method: "POST",
        path: "/api/v1/jobs/{id}/retry",
        roles: "operator",
        summary: "Retry a failed job with a new blank (a new number)",
        query: &[],
        body: None,
        ok: ("200", JSON, "Job"),
    },
    Route {
        method: "POST",
        path: "/api/v1/jobs/{id}/void",
        roles: "operator",
        summary: "Cancel a job; its number, if any, is voided",
        query: &[],
        body: None,
        ok: ("200", JSON, "Job"),
    },
    Route {
        method: "POST",
        path: "/api/v1/jobs/{id}/confirm",
        roles: "operator",
        summary: "Confirm that the card of a needs_review job was delivered: the job is issued",
        query: &[],
        body: None,
        ok: ("200", JSON, "Job"),
    },
    Route {
        method: "GET",
        path: "/api/v1/lanes",
        roles: "operator",
        summary: "What each lane of this station is doing, and every station's leases",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/fleet",
        roles: "operator, qa",
        summary: "Every station sharing the store: lanes, heartbeats (stopped stations flagged), jobs",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/cards/to-destroy",
        roles: "operator, qa",
        summary: "Cards found in lane slots at start that no live job owned, moved aside to be destroyed",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "POST",
        path: "/api/v1/jobs/{id}/qa",
        roles: "qa",
        summary: "Record a QA inspection of the job's card",
        query: &[],
        body: Some((JSON, "QaSubmission")),
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "POST",
        path: "/api/v1/qa/results",
        roles: "qa",
        summary: "Record a QA inspection of a card by its number",
        query: &[],
        body: Some((JSON, "QaSubmission")),
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/qa/cards/{number}",
        roles: "qa",
        summary: "What the station wrote on a card: EF hashes, SOD, DS certificate, lock result",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/qa/report",
        roles: "qa",
        summary: "QA results over a period, as JSON, CSV or HTML",
        query: &[
            ("from", "first day, YYYY-MM-DD"),
            ("to", "last day, YYYY-MM-DD"),
            ("format", "json, csv or html"),
        ],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/qa/queue",
        roles: "qa",
        summary: "Cards drawn for inspection by the sampling plan",
        query: &[("limit", "at most this many")],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/healthz",
        roles: "public",
        summary: "Liveness: the daemon answers",
        query: &[],
        body: None,
        ok: ("200", "text/plain", ""),
    },
    Route {
        method: "GET",
        path: "/api/v1/status-list",
        roles: "public",
        summary: "The signed card status list (COSE_Sign1, ECARD.md section 8)",
        query: &[],
        body: None,
        ok: ("200", "application/cose", ""),
    },
    Route {
        method: "GET",
        path: "/api/v1/metrics",
        roles: "operator, qa",
        summary: "Prometheus text exposition: jobs by state, transitions, lanes",
        query: &[],
        body: None,
        ok: ("200", "text/plain", ""),
    },
    Route {
        method: "GET",
        path: "/api/v1/events",
        roles: "operator, qa",
        summary: "Server-sent events: a job's state changes as they happen",
        query: &[],
        body: None,
        ok: ("200", "text/event-stream", ""),
    },
    Route {
        method: "GET",
        path: "/api/v1/stock",
        roles: "admin, supervisor",
        summary: "The blank-stock ledger: counts per batch and day, and serials that do not reconcile",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/statistics",
        roles: "analyst",
        summary: "De-identified counts of cards issued and spoiled (ECARD.md section 13); cells under 10 and their complements are suppressed (count null, suppressed true; CSV <10); 400 naming a bad parameter",
        query: &[
            ("from", "first month of the period, YYYY-MM (required)"),
            (
                "to",
                "last month of the period, YYYY-MM (required; at most 120 months from from)",
            ),
            (
                "by",
                "groupings, comma-separated: month, station, region, nationality, age_band, sex, kind, cause, late_notification, outcome",
            ),
            (
                "filter",
                "dimension:value pairs, comma-separated; groupings and filters together at most 3",
            ),
            ("format", "json (default) or csv"),
        ],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/openapi.json",
        roles: "public",
        summary: "This document",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/console/session",
        roles: "any signed-in role",
        summary: "Who the console's token belongs to",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "POST",
        path: "/api/v1/console/session",
        roles: "any signed-in role",
        summary: "Sign the console in: sets its token as an HttpOnly cookie for the event stream",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
    Route {
        method: "GET",
        path: "/api/v1/console/jobs/{id}",
        roles: "operator, qa",
        summary: "A job with its audit history, for the console",
        query: &[],
        body: None,
        ok: ("200", JSON, "Object"),
    },
];

fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
}

/// The enrollment record's top level (the full contract, with every rule, is ECARD.md section 2
/// and `ecard validate`).
fn enrollment_schema() -> ObjectBuilder {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let mut o = object(
        "An enrollment record from the MMC (ECARD.md section 2). Images inline as {\"base64\": ...}. Unknown fields are refused.",
    );
    for (name, required) in [
        ("application_id", true),
        ("surname", true),
        ("given_names", true),
        ("patronymic", false),
        ("date_of_birth", true),
        ("sex", true),
        ("nationality", true),
        ("residence_status", true),
        ("residence_region", false),
        ("applied_on", true),
    ] {
        o = o.property(name, text());
        if required {
            o = o.required(name);
        }
    }
    for (name, required) in [
        ("name_cyrillic", false),
        ("identity_document", true),
        ("photo", true),
        ("signature", true),
        ("application", true),
    ] {
        o = o.property(name, ObjectBuilder::new().schema_type(Type::Object));
        if required {
            o = o.required(name);
        }
    }
    o
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let method = if r.method == "POST" {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        };
        let mut op = OperationBuilder::new()
            .summary(Some(r.summary))
            .description(Some(format!("Roles: {}.", r.roles)))
            .operation_id(Some(format!(
                "{}_{}",
                r.method.to_ascii_lowercase(),
                r.path
                    .trim_start_matches('/')
                    .replace(['/', '-', '.'], "_")
                    .replace(['{', '}'], "")
            )));
        for segment in r.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
        }
        for (name, meaning) in r.query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*meaning))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        if let Some((media, schema)) = r.body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(media, Content::new(Some(Ref::from_schema_name(schema))))
                    .build(),
            ));
        }
        let (status, media, schema) = r.ok;
        let ok = if schema.is_empty() {
            ResponseBuilder::new()
                .description("success")
                .content(media, Content::new(None::<Ref>))
        } else {
            ResponseBuilder::new()
                .description("success")
                .content(media, Content::new(Some(Ref::from_schema_name(schema))))
        };
        op = op
            .response(status, ok)
            .response("4XX", error_response())
            .response("503", error_response());
        if r.roles != "public" {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(r.path, PathItem::new(method, op));
    }
    let components = ComponentsBuilder::new()
        .schema("Job", crate::job::Job::schema())
        .schema("JobState", crate::job::JobState::schema())
        .schema(
            "JobList",
            object("Jobs, newest first").property(
                "jobs",
                utoipa::openapi::schema::ArrayBuilder::new().items(Ref::from_schema_name("Job")),
            ),
        )
        .schema("Enrollment", enrollment_schema())
        .schema(
            "QaSubmission",
            object("A QA inspection: the number read and every failed check")
                .property("document_number", ObjectBuilder::new().schema_type(Type::String))
                .required("document_number")
                .property(
                    "failures",
                    utoipa::openapi::schema::ArrayBuilder::new()
                        .items(ObjectBuilder::new().schema_type(Type::Object)),
                )
                .required("failures"),
        )
        .schema(
            "Error",
            object("An error: what went wrong, and every problem with its JSON path for a 422")
                .property("error", ObjectBuilder::new().schema_type(Type::String))
                .required("error")
                .property(
                    "problems",
                    utoipa::openapi::schema::ArrayBuilder::new().items(
                        object("One problem of a record")
                            .property("path", ObjectBuilder::new().schema_type(Type::String))
                            .property("message", ObjectBuilder::new().schema_type(Type::String)),
                    ),
                ),
        )
        .schema("Object", object("A JSON object; see the route's summary"))
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A station token (from a file or the environment, never a URL); the console uses a cookie",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ecard-station API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Enrollment intake, jobs, lanes, QA, status list and stock of an e-card issuance station. Errors are JSON {\"error\", \"problems\"}; personal data never goes into URLs.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

fn error_response() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description("an error, as JSON")
        .content(JSON, Content::new(Some(Ref::from_schema_name("Error"))))
        .build()
}

/// The handler: the document as JSON, built once.
pub(super) async fn serve() -> impl IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".into()));
    ([(header::CONTENT_TYPE, JSON)], body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(METHOD, path)` of every route in a router's source: `.route("/p", get(..).post(..))`.
    fn routes_in(source: &str, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for chunk in source.split(".route(\"").skip(1) {
            let Some((path, rest)) = chunk.split_once('"') else {
                continue;
            };
            let call = rest.split(".route(").next().unwrap_or(rest);
            let call = call.split(";").next().unwrap_or(call);
            for (m, needle) in [("GET", "get("), ("POST", "post(")] {
                if call.contains(needle) {
                    out.push((m.to_string(), format!("{prefix}{path}")));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_of_the_router_is_in_the_document() {
        let doc: serde_json::Value = serde_json::from_str(&document().to_json().unwrap()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut routes = routes_in(include_str!("mod.rs"), "/api/v1");
        routes.extend(
            routes_in(include_str!("../console/mod.rs"), "")
                .into_iter()
                .filter(|(_, p)| p.starts_with("/api/")),
        );
        assert!(routes.len() >= 15, "the router scan found only {routes:?}");
        for (method, path) in &routes {
            let op = &doc["paths"][path][method.to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{method} {path} is served but not in the OpenAPI document; add it to ROUTES"
            );
        }
        // And nothing in the document that the router does not serve.
        let served: std::collections::BTreeSet<_> = routes.iter().cloned().collect();
        for r in ROUTES {
            assert!(
                served.contains(&(r.method.to_string(), r.path.to_string())),
                "{} {} is in the document but the router does not serve it",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn the_job_schema_comes_from_the_type() {
        let doc: serde_json::Value = serde_json::from_str(&document().to_json().unwrap()).unwrap();
        let job = &doc["components"]["schemas"]["Job"];
        for field in [
            "id",
            "application_id",
            "state",
            "document_number",
            "created_ms",
        ] {
            assert!(job["properties"][field].is_object(), "{field}: {job}");
        }
        let states = doc["components"]["schemas"]["JobState"].to_string();
        assert!(
            states.contains("verifying") && states.contains("voided"),
            "{states}"
        );
        // Every schema a route names exists.
        for r in ROUTES {
            for name in [r.body.map(|b| b.1), Some(r.ok.2)].into_iter().flatten() {
                if !name.is_empty() {
                    assert!(
                        doc["components"]["schemas"][name].is_object(),
                        "{} {} names schema {name}, which is missing",
                        r.method,
                        r.path
                    );
                }
            }
        }
    }
}
