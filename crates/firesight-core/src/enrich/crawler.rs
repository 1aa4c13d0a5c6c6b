//! Crawler recognition: which bot a user agent names (`firesight.crawler.name`) and what kind of bot
//! it is (`firesight.crawler.category`), from the `crawler-user-agents` list (MIT,
//! `data/crawlers/`, refreshed by `dev/crawlers.sh`) embedded in the binary.
//!
//! - Every pattern of the list is compiled once into one [`RegexSet`]. The list's patterns are
//!   JavaScript regexes; the ones Rust's `regex` cannot compile are skipped and counted
//!   ([`Crawlers::skipped`]). Matching is case-sensitive, as the patterns are written (they spell
//!   out `[cC]laude[bB]ot` where case varies).
//! - When several patterns match, the longest match wins (ties: the earlier entry), so
//!   `W3C-checklink/4.81 libwww-perl/5.836` is the link checker, not the Perl library it uses.
//! - The name is derived from the pattern and its example agents ([`derive_name`]).
//! - The category comes from the entry's `tags` through `categories.json` (its `tags` table in
//!   priority order, the first of the entry's tags listed there wins), unless `categories.json`
//!   sets the pattern's category itself; `other` otherwise.
//!
//! The matcher runs once per distinct user agent: [`super::UserAgentParser`] caches its answer
//! with the rest of the parse.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use super::EnrichError;
use crate::document::Crawler;

const LIST_JSON: &str = include_str!("../../data/crawlers/crawler-user-agents.json");
const CATEGORIES_JSON: &str = include_str!("../../data/crawlers/categories.json");

/// `firesight.crawler.category` values.
pub const CATEGORIES: [&str; 6] = ["search", "ai", "monitor", "seo", "scanner", "other"];

/// One entry of `crawler-user-agents.json` (fields firesight does not use are ignored).
#[derive(Debug, Deserialize)]
struct Entry {
    pattern: String,
    #[serde(default)]
    instances: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Categories {
    tags: Vec<TagCategory>,
    patterns: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct TagCategory {
    tag: String,
    category: String,
}

/// The compiled list.
pub struct Crawlers {
    set: RegexSet,
    /// The same patterns one by one, to measure each match; index as in `set`.
    regexes: Vec<Regex>,
    crawlers: Vec<Arc<Crawler>>,
    /// Patterns that did not compile, with the reason.
    skipped: Vec<(String, String)>,
}

impl std::fmt::Debug for Crawlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawlers")
            .field("patterns", &self.regexes.len())
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

impl Crawlers {
    /// The embedded list, compiled once per process.
    pub fn embedded() -> Result<&'static Crawlers, EnrichError> {
        static CRAWLERS: OnceLock<Result<Crawlers, String>> = OnceLock::new();
        CRAWLERS
            .get_or_init(|| {
                let started = Instant::now();
                let crawlers = Crawlers::from_json(LIST_JSON, CATEGORIES_JSON)?;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    patterns = crawlers.regexes.len(),
                    skipped = crawlers.skipped.len(),
                    "crawler patterns compiled"
                );
                Ok(crawlers)
            })
            .as_ref()
            .map_err(|reason| EnrichError::CrawlerList(reason.clone()))
    }

    fn from_json(list: &str, categories: &str) -> Result<Crawlers, String> {
        let entries: Vec<Entry> = serde_json::from_str(list).map_err(|e| format!("crawler list: {e}"))?;
        let categories: Categories =
            serde_json::from_str(categories).map_err(|e| format!("crawler categories: {e}"))?;
        for category in categories.tags.iter().map(|t| &t.category).chain(categories.patterns.values()) {
            if !CATEGORIES.contains(&category.as_str()) {
                return Err(format!("crawler categories: unknown category {category:?}"));
            }
        }
        let mut regexes = Vec::with_capacity(entries.len());
        let mut crawlers = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for entry in &entries {
            let regex = match Regex::new(&entry.pattern) {
                Ok(regex) => regex,
                Err(e) => {
                    skipped.push((entry.pattern.clone(), e.to_string()));
                    continue;
                }
            };
            let category = categories.patterns.get(&entry.pattern).cloned().unwrap_or_else(|| {
                categories
                    .tags
                    .iter()
                    .find(|t| entry.tags.contains(&t.tag))
                    .map_or_else(|| "other".to_owned(), |t| t.category.clone())
            });
            let name = derive_name(&regex, &entry.pattern, &entry.instances);
            crawlers.push(Arc::new(Crawler { name: Some(name), category: Some(category) }));
            regexes.push(regex);
        }
        let set = RegexSetBuilder::new(regexes.iter().map(Regex::as_str))
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .map_err(|e| format!("crawler patterns: {e}"))?;
        Ok(Crawlers { set, regexes, crawlers, skipped })
    }

    /// The crawler `ua` names, if any: of the patterns that match, the one with the longest match
    /// (the earlier entry on a tie).
    pub fn find(&self, ua: &str) -> Option<&Arc<Crawler>> {
        let mut best: Option<(usize, usize)> = None;
        for index in self.set.matches(ua).iter() {
            let len = self.regexes[index].find(ua).map_or(0, |m| m.len());
            if best.is_none_or(|(longest, _)| len > longest) {
                best = Some((len, index));
            }
        }
        best.map(|(_, index)| &self.crawlers[index])
    }

    /// Patterns compiled.
    pub fn len(&self) -> usize {
        self.regexes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }

    /// Patterns of the list that Rust's `regex` does not compile, with the reason.
    pub fn skipped(&self) -> &[(String, String)] {
        &self.skipped
    }
}

/// A readable name for an entry, deterministically: of the texts the pattern matches in its example
/// agents (the first match in each), trimmed of the separators around them (spaces, `/;:,.()+_-[]`),
/// the most frequent, then the one with the most capitals (the way the bot writes its own name), then
/// the first; `Googlebot\/` in `... Googlebot/2.1; ...` gives `Googlebot`, `[cC]laude[bB]ot` over
/// `claudebot` and `... ClaudeBot/1.0 ...` gives `ClaudeBot`. An entry without a matching example is
/// named by its pattern read as a literal (escapes resolved, anchors dropped).
pub fn derive_name(regex: &Regex, pattern: &str, instances: &[String]) -> String {
    fn trim(raw: &str) -> &str {
        raw.trim_matches(|c: char| c.is_whitespace() || "/;:,.()+_-[]".contains(c))
    }
    let mut candidates: Vec<(&str, usize)> = Vec::new();
    for found in instances.iter().filter_map(|ua| regex.find(ua)) {
        let text = trim(found.as_str());
        if text.is_empty() {
            continue;
        }
        match candidates.iter_mut().find(|(seen, _)| *seen == text) {
            Some((_, count)) => *count += 1,
            None => candidates.push((text, 1)),
        }
    }
    let capitals = |text: &str| text.chars().filter(char::is_ascii_uppercase).count();
    // `max_by_key` keeps the last of equals; reversed, that is the first.
    let best = candidates.iter().rev().max_by_key(|(text, count)| (*count, capitals(text))).map(|(text, _)| *text);
    match best {
        Some(text) => text.to_owned(),
        None => {
            let literal = literal(pattern);
            let trimmed = trim(&literal);
            if trimmed.is_empty() { pattern.to_owned() } else { trimmed.to_owned() }
        }
    }
}

/// The pattern without its regex syntax: `\x` is `x`, `^` and `$` go.
fn literal(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '^' | '$' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<Entry> {
        serde_json::from_str(LIST_JSON).unwrap()
    }

    fn crawlers() -> &'static Crawlers {
        Crawlers::embedded().unwrap()
    }

    fn find(ua: &str) -> Option<(&str, &str)> {
        crawlers().find(ua).map(|c| (c.name.as_deref().unwrap(), c.category.as_deref().unwrap()))
    }

    #[test]
    fn patterns_compile_but_the_listed_few() {
        let started = Instant::now();
        let fresh = Crawlers::from_json(LIST_JSON, CATEGORIES_JSON).unwrap();
        let compiled = started.elapsed();
        let agents: Vec<String> = list().into_iter().flat_map(|e| e.instances).collect();
        let started = Instant::now();
        let found = agents.iter().filter(|ua| fresh.find(ua).is_some()).count();
        let first = started.elapsed() / agents.len() as u32;
        let started = Instant::now();
        let matches: usize = agents.iter().map(|ua| fresh.set.matches(ua).iter().count()).sum();
        let set_only = started.elapsed() / agents.len() as u32;
        let started = Instant::now();
        agents.iter().for_each(|ua| assert!(fresh.find(ua).is_some()));
        let per_agent = started.elapsed() / agents.len() as u32;
        eprintln!("first pass {first:?} per agent; set alone {set_only:?} ({matches} matches)");
        let browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/120.0.0.0 Safari/537.36";
        let started = Instant::now();
        for _ in 0..1000 {
            assert!(fresh.find(browser).is_none());
        }
        let per_browser = started.elapsed() / 1000;
        eprintln!(
            "compiled in {compiled:?}; {per_agent:?} per example agent ({found} of {}), {per_browser:?} per browser agent",
            agents.len()
        );
        let skipped = crawlers().skipped();
        let entries = list().len();
        eprintln!("{} of {entries} patterns compiled; skipped: {skipped:#?}", crawlers().len());
        assert_eq!(crawlers().len() + skipped.len(), entries);
        // crawler-user-agents 1.60.0: every pattern is also a Rust regex.
        assert_eq!(skipped.len(), 0, "{skipped:#?}");
    }

    #[test]
    fn every_entry_gets_a_name() {
        for entry in list() {
            let regex = Regex::new(&entry.pattern).unwrap();
            let name = derive_name(&regex, &entry.pattern, &entry.instances);
            assert!(!name.trim().is_empty(), "{}", entry.pattern);
        }
    }

    #[test]
    fn names_read_like_the_bot() {
        let name = |pattern: &str, instances: &[&str]| {
            let instances: Vec<String> = instances.iter().map(|s| (*s).to_owned()).collect();
            derive_name(&Regex::new(pattern).unwrap(), pattern, &instances)
        };
        assert_eq!(
            name(r"Googlebot\/", &["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"]),
            "Googlebot"
        );
        assert_eq!(
            name("[cC]laude[bB]ot", &["Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"]),
            "ClaudeBot"
        );
        assert_eq!(
            name(r"Ahrefs(Bot|SiteAudit)", &["Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"]),
            "AhrefsBot"
        );
        // No example agent: the pattern as a literal.
        assert_eq!(name(r"^web-archive-net\.com\.bot", &[]), "web-archive-net.com.bot");
    }

    /// Every example agent of the list matches its own pattern, and is named after its own entry but
    /// where a longer match of another entry wins (listed, and bounded).
    #[test]
    fn every_instance_is_recognised() {
        let entries = list();
        let mut unmatched = Vec::new();
        let mut other_entry = Vec::new();
        let mut checked = 0;
        for entry in &entries {
            let regex = Regex::new(&entry.pattern).unwrap();
            let own = derive_name(&regex, &entry.pattern, &entry.instances);
            for ua in &entry.instances {
                checked += 1;
                if !regex.is_match(ua) {
                    unmatched.push((entry.pattern.as_str(), ua.as_str()));
                }
                match crawlers().find(ua).and_then(|c| c.name.as_deref()) {
                    Some(name) if name == own => {}
                    found => other_entry.push((own.clone(), found.map(str::to_owned), ua.as_str())),
                }
            }
        }
        eprintln!("{checked} example agents; named after another entry: {other_entry:#?}");
        assert!(unmatched.is_empty(), "{unmatched:#?}");
        assert!(other_entry.iter().all(|(_, found, _)| found.is_some()), "{other_entry:#?}");
        assert!(other_entry.len() <= 20, "{} of {checked}: {other_entry:#?}", other_entry.len());
    }

    #[test]
    fn known_bots_and_their_categories() {
        let cases = [
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; +https://openai.com/gptbot)",
                "GPTBot",
                "ai",
            ),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
                "ClaudeBot",
                "ai",
            ),
            ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot", "ai"),
            (
                "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
                "Bytespider",
                "ai",
            ),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "search"),
            ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", "search"),
            ("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "UptimeRobot", "monitor"),
            ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot", "seo"),
            ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "SemrushBot", "seo"),
            (
                "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
                "Nmap Scripting Engine",
                "scanner",
            ),
            ("Mozilla/5.0 zgrab/0.x", "zgrab", "scanner"),
            ("curl/7.22.0 (i686-pc-linux-gnu) libcurl/7.22.0", "curl", "other"),
        ];
        for (ua, name, category) in cases {
            assert_eq!(find(ua), Some((name, category)), "{ua}");
        }
    }

    #[test]
    fn browsers_are_no_crawlers() {
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.9; rv:27.0) Gecko/20100101 Firefox/27.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "",
        ] {
            assert_eq!(find(ua), None, "{ua}");
        }
    }

    #[test]
    fn categories_come_from_tags_and_overrides() {
        let categories = r#"{"tags": [{"tag": "ai-crawler", "category": "ai"}, {"tag": "search-engine", "category": "search"}],
            "patterns": {"Amazonbot": "ai"}}"#;
        let list = r#"[{"pattern": "Amazonbot", "instances": [], "tags": ["search-engine"]},
            {"pattern": "OAI-SearchBot", "instances": [], "tags": ["search-engine", "ai-crawler"]},
            {"pattern": "Feedly", "instances": ["Feedly/1.0"], "tags": ["feed-reader"]},
            {"pattern": "(?<=x)y", "instances": []}]"#;
        let c = Crawlers::from_json(list, categories).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.skipped().len(), 1);
        let category = |ua: &str| c.find(ua).and_then(|c| c.category.clone());
        assert_eq!(category("Amazonbot/0.1").as_deref(), Some("ai"));
        assert_eq!(category("OAI-SearchBot/1.0").as_deref(), Some("ai"));
        assert_eq!(category("Feedly/1.0").as_deref(), Some("other"));
        let bad = r#"{"tags": [], "patterns": {"Amazonbot": "robots"}}"#;
        assert!(Crawlers::from_json(list, bad).unwrap_err().contains("unknown category"));
    }
}
