//! service: no failed units or crashed services, the required services
//! running (a hard check), the role smoke checks.
use super::{join_or, C};
use e2et_model::check::{Check, Gate};
use e2et_model::facts::Facts;
use e2et_model::inventory::HostSpec;

const G: Gate = Gate::Service;

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let s = &facts.service;
    let e = &spec.expect.service;
    let failed = C::new(
        "service.failed",
        "no failed units (systemd) or failed/crashed services (OpenRC)",
        G,
    );
    if !e.no_failed {
        out.push(failed.off(spec, "a clean service state"));
    } else {
        out.push(failed.over(&s.failed, "none", |c, f| {
            let list: Vec<String> = f
                .iter()
                .map(|x| format!("{} {} ({})", x.name, x.state, x.detail))
                .collect();
            c.compare(
                f.is_empty(),
                "none".into(),
                join_or(&list, "none"),
                match s.manager.as_str() {
                    "systemd" => "systemctl list-units --state=failed".into(),
                    _ => "/run/openrc/failed, /run/openrc/started + daemons".into(),
                },
            )
        }));
    }
    for name in &e.required {
        let c = C::new(
            format!("service.required:{name}"),
            format!("required service {name} is running"),
            G,
        )
        .hard();
        out.push(match s.required.iter().find(|r| &r.name == name) {
            None => c.not_asked("running", &format!("the state of {name}")),
            Some(r) => c.compare(
                r.running,
                "running".into(),
                format!(
                    "{}{}",
                    r.matched
                        .as_deref()
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default(),
                    r.state
                ),
                format!("via {}", r.via),
            ),
        });
    }
    for sm in &e.smoke {
        let c = C::new(
            format!("service.smoke:{}", sm.name),
            format!("smoke check {}", sm.name),
            G,
        )
        .hard_if(sm.hard);
        let what = if let Some(cmd) = &sm.command {
            format!("`{}` exits 0", cmd.join(" "))
        } else if let Some(t) = &sm.tcp {
            format!("TCP connect to {t}")
        } else if let Some(h) = &sm.http {
            format!(
                "GET {} → {}{}",
                h.url,
                h.status,
                h.body_contains
                    .as_deref()
                    .map(|b| format!(" with {b:?} in the body"))
                    .unwrap_or_default()
            )
        } else {
            "a check".into()
        };
        out.push(match s.smoke.iter().find(|r| r.name == sm.name) {
            None => c.not_asked(what, &format!("smoke check {}", sm.name)),
            Some(r) => c.compare(
                r.ok,
                format!("{what} within {} s", sm.timeout_s),
                format!(
                    "{}{} ({:.0} ms)",
                    if r.timed_out { "timed out: " } else { "" },
                    r.detail,
                    r.elapsed_ms
                ),
                format!("{} smoke check run on the host", r.kind),
            ),
        });
    }
}
