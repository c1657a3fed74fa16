//! Report renderers: JSON (sorted keys), Markdown, JUnit XML.
use e2et_model::check::{Check, Outcome};
use e2et_model::report::Report;
use std::fmt::Write;

/// The renderings (the names and file names are the model's).
pub use e2et_model::api::ReportFormat as Format;

pub fn render(r: &Report, f: Format) -> String {
    match f {
        Format::Json => json(r),
        Format::Md => markdown(r),
        Format::Junit => junit(r),
        Format::Html => html(r),
    }
}

/// Pretty JSON with keys sorted (serde_json's map is ordered), so two reports diff.
pub fn json(r: &Report) -> String {
    let v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn outcome_text(c: &Check) -> String {
    match &c.outcome {
        Outcome::Pass => "pass".into(),
        Outcome::Fail => "**FAIL**".into(),
        Outcome::NotRun { reason } => format!("not run ({reason})"),
        Outcome::NotApplicable { reason } => format!("n/a ({reason})"),
        Outcome::Error { message } => format!("**ERROR** ({message})"),
        Outcome::Waived { reason, expiry } => format!("waived until {expiry} ({reason})"),
    }
}

/// Markdown that fits a screen for a passing host and points at failures otherwise.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {} — {} ({} run {})\n",
        r.host,
        r.verdict.as_str().to_uppercase(),
        r.mode.as_str(),
        r.run.id
    );
    let _ = writeln!(
        s,
        "Score **{:.2}**, zone **{}** (required {}). Lifecycle: {} provisioning, {} power cycle, {} boots, {} validations.\n",
        r.score,
        r.zone,
        r.required_zone,
        r.lifecycle.provisionings,
        r.lifecycle.power_cycles,
        r.lifecycle.boots,
        r.lifecycle.validations
    );
    for reason in &r.reasons {
        let _ = writeln!(s, "- {}", md_escape(reason));
    }
    s.push('\n');
    let _ = writeln!(s, "| boot | boot id | score | zone | checks | failed |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for v in &r.validations {
        let failed = v.checks.iter().filter(|c| c.failed()).count();
        let _ = writeln!(
            s,
            "| {} | `{}` | {:.2} | {} | {} | {} |",
            v.boot_seq,
            v.boot_id,
            v.score,
            v.zone,
            v.checks.len(),
            failed
        );
    }
    let problems: Vec<(String, &Check)> = r
        .run_checks
        .iter()
        .map(|c| ("run".to_string(), c))
        .chain(r.validations.iter().flat_map(|v| {
            v.checks
                .iter()
                .map(move |c| (format!("boot {}", v.boot_seq), c))
        }))
        .filter(|(_, c)| {
            !c.passed()
                && !matches!(c.outcome, Outcome::NotApplicable { .. })
                && (c.required || c.failed())
        })
        .collect();
    if problems.is_empty() {
        let na: Vec<&str> = r
            .run_checks
            .iter()
            .chain(r.validations.iter().flat_map(|v| v.checks.iter()))
            .filter(|c| matches!(c.outcome, Outcome::NotApplicable { .. }))
            .map(|c| c.id.as_str())
            .collect();
        let _ = writeln!(
            s,
            "\nNo check failed or went missing ({} run checks and every boot's checks){}.",
            r.run_checks.len(),
            if na.is_empty() {
                String::new()
            } else {
                format!("; not applicable: {}", na.len())
            }
        );
    } else {
        let _ = writeln!(s, "\n## Needs attention\n");
        let _ = writeln!(
            s,
            "| where | check | severity | outcome | expected | observed | evidence |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for (w, c) in problems {
            let _ = writeln!(
                s,
                "| {w} | `{}` | {:?} | {} | {} | {} | {} |",
                c.id,
                c.severity,
                outcome_text(c),
                md_escape(c.expected.as_deref().unwrap_or("-")),
                md_escape(c.observed.as_deref().unwrap_or("-")),
                md_escape(&c.evidence)
            );
        }
    }
    if !r.run.power_steps.is_empty() {
        let _ = writeln!(s, "\n## Power steps\n");
        for p in &r.run.power_steps {
            let _ = writeln!(
                s,
                "- {} {} outlet {} `{}` → read back `{}`{}",
                p.at,
                p.pdu,
                p.outlet,
                p.action,
                p.observed.map_or("nothing", |o| o.as_str()),
                if p.ok {
                    String::new()
                } else {
                    format!(" — FAILED: {}", p.detail)
                }
            );
        }
    }
    s
}

/// A self-contained HTML page (no scripts, no external assets): verdict,
/// reasons, each validation's checks with expected, observed and evidence,
/// the run checks and the power steps.
pub fn html(r: &Report) -> String {
    let e = xml_escape;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{host} {verdict}</title>\
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}}\
table{{border-collapse:collapse}}.fail{{background:#fdd}}.pass{{background:#dfd}}.not_run{{background:#ffd}}.na{{color:#777}}</style></head><body>\
<h1>{host}: <span class=\"verdict {verdict}\">{verdict}</span></h1><p>{mode} run <code>{id}</code>; score <b>{score:.2}</b>, zone <b>{zone}</b> (required {req}); \
{prov} provisioning, {pc} power cycle, {boots} boots, {vals} validations.</p><ul>",
        host = e(&r.host),
        verdict = r.verdict,
        mode = r.mode.as_str(),
        id = e(&r.run.id),
        score = r.score,
        zone = r.zone,
        req = r.required_zone,
        prov = r.lifecycle.provisionings,
        pc = r.lifecycle.power_cycles,
        boots = r.lifecycle.boots,
        vals = r.lifecycle.validations,
    );
    for reason in &r.reasons {
        let _ = write!(s, "<li>{}</li>", e(reason));
    }
    s.push_str("</ul>");
    let table = |s: &mut String, title: &str, checks: &[Check]| {
        let _ = write!(s, "<h2>{}</h2><table><tr><th>check</th><th>gate</th><th>severity</th><th>outcome</th><th>expected</th><th>observed</th><th>evidence</th></tr>", e(title));
        for c in checks {
            let class = if c.failed() {
                "fail"
            } else if c.passed() {
                "pass"
            } else if matches!(c.outcome, Outcome::NotApplicable { .. }) {
                "na"
            } else {
                "not_run"
            };
            let _ = write!(
                s,
                "<tr class=\"{class}\"><td><code>{}</code><br>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&c.id),
                e(&c.title),
                c.gate,
                c.severity,
                e(&outcome_text(c).replace("**", "")),
                e(c.expected.as_deref().unwrap_or("-")),
                e(c.observed.as_deref().unwrap_or("-")),
                e(&c.evidence)
            );
        }
        s.push_str("</table>");
    };
    table(&mut s, "Run checks", &r.run_checks);
    for v in &r.validations {
        table(
            &mut s,
            &format!(
                "Boot {} ({}): score {:.2}, zone {}",
                v.boot_seq, v.boot_id, v.score, v.zone
            ),
            &v.checks,
        );
    }
    s.push_str("<h2>Power steps</h2><table><tr><th>at</th><th>PDU</th><th>outlet</th><th>action</th><th>read back</th><th>detail</th></tr>");
    for p in &r.run.power_steps {
        let _ = write!(
            s,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if p.ok { "pass" } else { "fail" },
            e(&p.at),
            e(&p.pdu),
            p.outlet,
            e(p.action.as_str()),
            e(p.observed.map_or("nothing", |o| o.as_str())),
            e(&p.detail)
        );
    }
    s.push_str("</table></body></html>\n");
    s
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => o.push(c),
        }
    }
    o
}

fn junit_case(out: &mut String, host: &str, c: &Check) {
    let _ = writeln!(
        out,
        "    <testcase classname=\"e2et.{}.{}\" name=\"{} — {}\">",
        xml_escape(host),
        c.gate,
        xml_escape(&c.id),
        xml_escape(&c.title)
    );
    let detail = format!(
        "expected: {}\nobserved: {}\nseverity: {:?} (weight {})\nevidence: {}",
        c.expected.as_deref().unwrap_or("-"),
        c.observed.as_deref().unwrap_or("-"),
        c.severity,
        c.weight,
        c.evidence
    );
    match &c.outcome {
        Outcome::Pass | Outcome::Waived { .. } => {}
        Outcome::Fail => {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{:?}\">{}</failure>",
                xml_escape(&format!(
                    "expected {}, observed {}",
                    c.expected.as_deref().unwrap_or("-"),
                    c.observed.as_deref().unwrap_or("-")
                )),
                c.severity,
                xml_escape(&detail)
            );
        }
        Outcome::Error { message } => {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"error\">{}</error>",
                xml_escape(message),
                xml_escape(&detail)
            );
        }
        Outcome::NotRun { reason } if c.required => {
            // A required check that did not run is not green: report it as an error.
            let _ = writeln!(
                out,
                "      <error message=\"required check did not run: {}\" type=\"not_run\">{}</error>",
                xml_escape(reason),
                xml_escape(&detail)
            );
        }
        // The reason as the element's text: Jenkins' schema gives <skipped>
        // no attributes, and its reader takes the text as the message.
        Outcome::NotRun { reason } => {
            let _ = writeln!(out, "      <skipped>{}</skipped>", xml_escape(reason));
        }
        Outcome::NotApplicable { reason } => {
            let _ = writeln!(
                out,
                "      <skipped>not applicable: {}</skipped>",
                xml_escape(reason)
            );
        }
    }
    let _ = writeln!(
        out,
        "      <system-out>{}</system-out>",
        xml_escape(&detail)
    );
    out.push_str("    </testcase>\n");
}

fn junit_suite(
    out: &mut String,
    host: &str,
    name: &str,
    checks: &[Check],
) -> (usize, usize, usize) {
    let failures = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    let errors = checks
        .iter()
        .filter(|c| {
            matches!(c.outcome, Outcome::Error { .. })
                || (c.required && matches!(c.outcome, Outcome::NotRun { .. }))
        })
        .count();
    let skipped = checks
        .iter()
        .filter(|c| {
            matches!(c.outcome, Outcome::NotApplicable { .. })
                || (!c.required && matches!(c.outcome, Outcome::NotRun { .. }))
        })
        .count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
        xml_escape(name),
        checks.len()
    );
    for c in checks {
        junit_case(out, host, c);
    }
    out.push_str("  </testsuite>\n");
    (failures, errors, skipped)
}

/// JUnit XML: one suite for the run's checks, one per boot; each test case named
/// by check id and title, with expected, observed and evidence in the body.
pub fn junit(r: &Report) -> String {
    let mut body = String::new();
    let (mut f, mut e, mut t) = (0, 0, 0);
    let mut add = |body: &mut String, name: String, cs: &[Check]| {
        // Skips are counted per suite: Jenkins' schema has no `skipped` on
        // <testsuites>.
        let (a, b, _skipped) = junit_suite(body, &r.host, &name, cs);
        f += a;
        e += b;
        t += cs.len();
    };
    add(
        &mut body,
        format!("{} run {}", r.host, r.mode.as_str()),
        &r.run_checks,
    );
    for v in &r.validations {
        add(
            &mut body,
            format!("{} boot {}", r.host, v.boot_seq),
            &v.checks,
        );
    }
    // The verdict itself is a test case, so a CI consumer fails the build on it.
    let mut verdict = String::new();
    let _ = writeln!(
        verdict,
        "  <testsuite name=\"{} verdict\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
        xml_escape(&r.host),
        usize::from(r.verdict != e2et_model::Verdict::Passed)
    );
    let _ = writeln!(
        verdict,
        "    <testcase classname=\"e2et.{}.verdict\" name=\"verdict — {} score {:.2} zone {}\">",
        xml_escape(&r.host),
        r.verdict,
        r.score,
        r.zone
    );
    if r.verdict != e2et_model::Verdict::Passed {
        let _ = writeln!(
            verdict,
            "      <failure message=\"verdict {}\" type=\"verdict\">{}</failure>",
            r.verdict,
            xml_escape(&r.reasons.join("\n"))
        );
    }
    let _ = writeln!(
        verdict,
        "      <system-out>{}</system-out>\n    </testcase>\n  </testsuite>",
        xml_escape(&r.reasons.join("\n"))
    );
    let vf = usize::from(r.verdict != e2et_model::Verdict::Passed);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"e2et {} {}\" tests=\"{}\" failures=\"{}\" errors=\"{e}\">\n{body}{verdict}\n</testsuites>\n",
        xml_escape(&r.host),
        xml_escape(&r.run.id),
        t + 1,
        f + vf
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{assemble_report, score_validation, Policy, RunFacts};
    use e2et_model::check::{Gate, Severity};
    use e2et_model::report::{LifecycleCounts, RunInfo};
    use e2et_model::{RunMode, Zone};

    fn report(outcome: Outcome) -> Report {
        let c = Check {
            id: "storage.persistent.unchanged:/var/lib/sss".into(),
            title: "a <b> & \"c\"".into(),
            gate: Gate::Storage,
            severity: Severity::Hard,
            weight: 10,
            required: true,
            outcome,
            expected: Some("sha256:aa".into()),
            observed: Some("sha256:bb".into()),
            evidence: "boot 1 aa, boot 2 bb".into(),
        };
        let v = score_validation(&Policy::default(), 1, "b1", vec![c.clone()]);
        assemble_report(
            RunFacts {
                host: "vm1".into(),
                mode: RunMode::Cold,
                required_zone: Zone::P90,
                lifecycle: LifecycleCounts {
                    provisionings: 1,
                    power_cycles: 1,
                    boots: 2,
                    validations: 2,
                },
                aborted: None,
                drift: vec![],
            },
            vec![
                v.clone(),
                score_validation(&Policy::default(), 2, "b2", vec![c]),
            ],
            vec![],
            RunInfo {
                id: "r1".into(),
                started_at: "t0".into(),
                finished_at: "t1".into(),
                transitions: vec![],
                power_steps: vec![],
            },
        )
    }

    #[test]
    fn html_escapes_and_marks_failures() {
        let h = html(&report(Outcome::Fail));
        assert!(h.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(h.contains(
            "<tr class=\"fail\"><td><code>storage.persistent.unchanged:/var/lib/sss</code>"
        ));
        assert!(!h.contains("<script"));
    }

    #[test]
    fn junit_escapes_and_counts_failures() {
        let x = junit(&report(Outcome::Fail));
        assert!(x.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(x.contains("<failure message=\"expected sha256:aa, observed sha256:bb\""));
        // two boot failures + the verdict
        assert!(x.contains("tests=\"3\" failures=\"3\""), "{x}");
    }

    #[test]
    fn junit_required_not_run_is_an_error_not_a_skip() {
        let x = junit(&report(Outcome::NotRun {
            reason: "no".into(),
        }));
        assert!(x.contains("required check did not run: no"));
        assert!(!x.contains("<skipped"));
    }

    #[test]
    fn markdown_points_at_failures_and_json_sorts_keys() {
        let r = report(Outcome::Fail);
        let md = markdown(&r);
        assert!(md.contains("Needs attention"));
        assert!(md.contains("storage.persistent.unchanged:/var/lib/sss"));
        let ok = markdown(&report(Outcome::Pass));
        assert!(!ok.contains("Needs attention"));
        assert!(ok.lines().count() < 25);
        let j = json(&r);
        let hp = j.find("\"host\"").unwrap();
        let lp = j.find("\"lifecycle\"").unwrap();
        assert!(hp < lp);
        let back: Report = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
    }
}
