//! The Korean README is a full translation of the English one: every `##` and `###`
//! section of README.md has a counterpart in README.ko.md, at the same level and in the
//! same order. `SECTIONS` pairs them; when a section is added, renamed, moved or removed
//! in either README, the other README and this table change with it.

/// One `(README.md heading, README.ko.md heading)` pair per section, in document order,
/// written exactly as in the files (hashes included, so the level is part of the pair).
const SECTIONS: &[(&str, &str)] = &[
    ("## Quick start", "## 빠른 시작"),
    ("### Running one test", "### 테스트 하나만 실행하기"),
    ("## Architecture", "## 구조"),
    ("### Layout", "### 파일 구성"),
    ("## Configuration", "## 설정"),
    ("### Limits", "### 제한"),
    (
        "## Rooms bigger than one object",
        "## 오브젝트 하나보다 큰 방",
    ),
    ("## Personal channels", "## 개인 채널"),
    ("## Guide for app developers", "## 앱 개발자 가이드"),
    ("### Connecting", "### 접속"),
    ("### Handshake", "### 핸드셰이크"),
    ("### After authentication", "### 인증 후"),
    ("### Batches (opt-in)", "### 배치 (선택)"),
    ("### Presence", "### 프레즌스"),
    ("### Token expiry and refresh", "### 토큰 만료와 갱신"),
    ("### Missed events: resync", "### 놓친 이벤트: resync"),
    ("### Errors", "### 오류"),
    ("### Close codes", "### Close 코드"),
    ("### Reconnecting", "### 재접속"),
    ("### Web and Flutter", "### 웹과 Flutter"),
    ("## Guide for the backend team", "## 백엔드 팀 가이드"),
    (
        "### Participants check (hub → backend)",
        "### 참가자 확인 (허브 → 백엔드)",
    ),
    (
        "### Broadcast (backend → hub)",
        "### 브로드캐스트 (백엔드 → 허브)",
    ),
    (
        "### Publishing to many rooms (backend → hub)",
        "### 여러 방에 한 번에 발행 (백엔드 → 허브)",
    ),
    (
        "### Disconnect: taking access back (backend → hub)",
        "### 연결 끊기: 접근 회수 (백엔드 → 허브)",
    ),
    (
        "### Personal channels (backend → hub)",
        "### 개인 채널 (백엔드 → 허브)",
    ),
    (
        "### The `excludeConnectionIds` flow",
        "### `excludeConnectionIds` 흐름",
    ),
    ("### Other endpoints", "### 그 밖의 엔드포인트"),
    ("### The connection audit", "### 연결 감사 기록"),
    ("### The development backend", "### 개발용 백엔드"),
    ("## Guide for operators", "## 운영자 가이드"),
    ("### Environments and deploys", "### 환경과 배포"),
    (
        "### Previews: try a branch before staging",
        "### 미리보기: 스테이징 전에 브랜치 확인하기",
    ),
    (
        "### What a deploy does to open sockets",
        "### 배포가 열린 소켓에 미치는 영향",
    ),
    (
        "### Resume tickets: deploys without a storm of checks",
        "### 재개 티켓: 확인 요청 폭주 없는 배포",
    ),
    (
        "### WebSocket compression (off by default)",
        "### WebSocket 압축 (기본값은 꺼짐)",
    ),
    (
        "### After a deploy, and when something is wrong",
        "### 배포 후, 그리고 문제가 생겼을 때",
    ),
    ("## Performance", "## 성능"),
    ("## Security", "## 보안"),
    (
        "## How a room recovers from a restart",
        "## 방이 재시작에서 회복하는 방법",
    ),
    ("## Testing", "## 테스트"),
];

const EN: &str = "README.md";
const KO: &str = "README.ko.md";

const HOW_TO_FIX: &str =
    "Every `##`/`###` heading of README.md needs a counterpart in README.ko.md \
    (same level, same place), and every pair must be listed, in document order, in `SECTIONS` \
    in tests/readme_sections.rs. When you add, rename, move or remove a section in one README, \
    do the same in the other and add or update its (English, Korean) pair in `SECTIONS`.";

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `##` or `###` heading: its 1-based line number and its text, hashes included.
#[derive(Debug)]
struct Heading {
    line: usize,
    text: String,
}

/// The `##` and `###` headings of a Markdown document, outside ``` fences.
fn headings(doc: &str) -> Vec<Heading> {
    let mut in_fence = false;
    let mut found = Vec::new();
    for (i, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence && level(line).is_some() {
            found.push(Heading {
                line: i + 1,
                text: line.trim_end().to_owned(),
            });
        }
    }
    found
}

/// 2 for `## …`, 3 for `### …`, `None` for anything else.
fn level(line: &str) -> Option<usize> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    ((hashes == 2 || hashes == 3) && line[hashes..].starts_with(' ')).then_some(hashes)
}

fn line_of(headings: &[Heading], text: &str) -> String {
    headings
        .iter()
        .find(|h| h.text == text)
        .map_or_else(|| "?".to_owned(), |h| h.line.to_string())
}

/// Everything that keeps the two documents (English `en`, Korean `ko`) and `pairs` from
/// matching section for section; empty when they match.
fn problems(en_doc: &str, ko_doc: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    let en = headings(en_doc);
    let ko = headings(ko_doc);
    let mut found = Vec::new();

    if en.is_empty() {
        found.push(format!(
            "{EN}: no `##`/`###` heading found outside code fences"
        ));
    }
    if ko.is_empty() {
        found.push(format!(
            "{KO}: no `##`/`###` heading found outside code fences"
        ));
    }
    if pairs.is_empty() {
        found.push("SECTIONS is empty".to_owned());
    }

    // The table itself: well-formed headings, one level per pair, no heading twice.
    for (i, (e, k)) in pairs.iter().enumerate() {
        match (level(e), level(k)) {
            (Some(le), Some(lk)) if le == lk => {}
            (Some(_), Some(_)) => found.push(format!(
                "SECTIONS pairs {e:?} with {k:?}, which is not at the same level: \
                 a section and its translation must both be `##` or both be `###`"
            )),
            _ => found.push(format!(
                "SECTIONS pair {e:?} / {k:?} is not a pair of `##`/`###` headings \
                 (write each heading exactly as in its README, hashes included)"
            )),
        }
        if pairs[..i].iter().any(|(pe, _)| pe == e) {
            found.push(format!("SECTIONS lists the English heading {e:?} twice"));
        }
        if pairs[..i].iter().any(|(_, pk)| pk == k) {
            found.push(format!("SECTIONS lists the Korean heading {k:?} twice"));
        }
    }

    // Every heading of each README is in the table.
    for h in &en {
        if !pairs.iter().any(|(e, _)| *e == h.text) {
            found.push(format!(
                "{EN} line {}: heading {:?} has no pair in SECTIONS: give it a counterpart \
                 in {KO} (same level, same place) and add the pair ({:?}, \"<Korean heading>\") \
                 to SECTIONS in tests/readme_sections.rs",
                h.line, h.text, h.text
            ));
        }
    }
    for h in &ko {
        if !pairs.iter().any(|(_, k)| *k == h.text) {
            found.push(format!(
                "{KO} line {}: heading {:?} has no pair in SECTIONS: it must be the \
                 counterpart of a {EN} heading; add the pair (\"<English heading>\", {:?}) \
                 to SECTIONS in tests/readme_sections.rs, or remove the section if {EN} \
                 has no such section",
                h.line, h.text, h.text
            ));
        }
    }

    // Every heading of the table is in its README.
    for (e, k) in pairs {
        let in_en = en.iter().any(|h| h.text == *e);
        let in_ko = ko.iter().any(|h| h.text == *k);
        if in_en && !in_ko {
            found.push(format!(
                "{KO} is missing {k:?}, the counterpart of {EN}'s {e:?} (line {}): translate \
                 that section into {KO} at the same place, or, if its Korean heading was \
                 renamed, update the pair in SECTIONS",
                line_of(&en, e)
            ));
        } else if !in_en && in_ko {
            found.push(format!(
                "{EN} has no heading {e:?}, paired in SECTIONS with {KO}'s {k:?} (line {}): \
                 if the English section was renamed or removed, do the same in {KO} and \
                 update or remove the pair in SECTIONS",
                line_of(&ko, k)
            ));
        } else if !in_en && !in_ko {
            found.push(format!(
                "SECTIONS pairs {e:?} with {k:?}, but neither README has that heading: \
                 remove or update the pair"
            ));
        }
    }

    // Same order (and so the same place) in both files. Only meaningful once every
    // heading is accounted for; otherwise the messages above say what to fix first.
    if found.is_empty() {
        for (doc, list, side) in [
            (EN, &en, pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
            (KO, &ko, pairs.iter().map(|p| p.1).collect::<Vec<_>>()),
        ] {
            if let Some(i) = (0..list.len().max(side.len()))
                .find(|&i| list.get(i).map(|h| h.text.as_str()) != side.get(i).copied())
            {
                found.push(format!(
                    "{doc}: section {} is {} (line {}), but SECTIONS has {} there: the \
                     sections are not in the same order in both READMEs (or a heading \
                     appears twice); reorder the README or SECTIONS so both follow {EN}",
                    i + 1,
                    list.get(i)
                        .map_or("nothing".to_owned(), |h| format!("{:?}", h.text)),
                    list.get(i).map_or("-".to_owned(), |h| h.line.to_string()),
                    side.get(i)
                        .map_or("nothing".to_owned(), |s| format!("{s:?}")),
                ));
            }
        }
    }

    if en.len() != ko.len() {
        found.push(format!(
            "{EN} has {} `##`/`###` sections and {KO} has {}",
            en.len(),
            ko.len()
        ));
    }
    found
}

#[test]
fn both_readmes_have_the_same_sections_in_the_same_order() {
    let (en_doc, ko_doc) = (read(EN), read(KO));
    let found = problems(&en_doc, &ko_doc, SECTIONS);
    assert!(
        found.is_empty(),
        "README.md and README.ko.md do not match section for section:\n- {}\n\n{HOW_TO_FIX}",
        found.join("\n- ")
    );
    // Not vacuous: both READMEs have sections, as many as the table.
    let (en, ko) = (headings(&en_doc), headings(&ko_doc));
    assert!(!en.is_empty() && !ko.is_empty() && !SECTIONS.is_empty());
    assert_eq!(en.len(), SECTIONS.len(), "{HOW_TO_FIX}");
    assert_eq!(ko.len(), SECTIONS.len(), "{HOW_TO_FIX}");
}

// The check itself, on small documents.

const PAIRS: &[(&str, &str)] = &[("## A", "## 가"), ("### B", "### 나"), ("## C", "## 다")];

#[test]
fn matching_documents_pass_and_fenced_headings_are_ignored() {
    let en = "# T\n## A\ntext\n```sh\n## not a heading\n```\n### B\n#### deeper\n## C\n";
    let ko = "# T\n## 가\n  ```md\n  ### 무시\n  ```\n### 나\n## 다\n";
    assert_eq!(problems(en, ko, PAIRS), Vec::<String>::new());
    assert_eq!(headings(en).len(), 3);
}

#[test]
fn a_missing_korean_section_is_named() {
    let found = problems("## A\n### B\n## C\n", "## 가\n## 다\n", PAIRS);
    assert!(
        found
            .iter()
            .any(|p| p.contains("missing \"### 나\"") && p.contains("\"### B\"")),
        "{found:?}"
    );
}

#[test]
fn a_heading_not_in_the_table_is_named_with_its_file() {
    let found = problems(
        "## A\n### B\n### New\n## C\n",
        "## 가\n### 나\n## 다\n",
        PAIRS,
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("README.md line 3: heading \"### New\" has no pair in SECTIONS")),
        "{found:?}"
    );
    let found = problems(
        "## A\n### B\n## C\n",
        "## 가\n### 나\n### 새\n## 다\n",
        PAIRS,
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("README.ko.md line 3: heading \"### 새\" has no pair")),
        "{found:?}"
    );
}

#[test]
fn order_and_level_are_checked() {
    let found = problems("## A\n### B\n## C\n", "## 가\n## 다\n### 나\n", PAIRS);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("README.ko.md: section 2 is \"## 다\"")),
        "{found:?}"
    );
    let found = problems("## A\n", "### 가\n", &[("## A", "### 가")]);
    assert!(
        found.iter().any(|p| p.contains("not at the same level")),
        "{found:?}"
    );
}

#[test]
fn empty_documents_do_not_pass() {
    assert!(!problems("", "", &[]).is_empty());
    assert!(!problems("text\n", "글\n", &[]).is_empty());
}
