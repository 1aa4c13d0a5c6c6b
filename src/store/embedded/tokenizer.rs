//! Free-text analysis of the embedded store: the `text` field's tokenizer, registered on every index
//! as [`ANALYZER`], and the words a free-text query looks for ([`tokens`]).

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which [`StandardTokenizer`] is registered on every index.
pub const ANALYZER: &str = "firesight_standard";

/// Lucene's `standard` tokenizer (Unicode UAX #29 word boundaries) for what access logs contain, plus
/// its lower-case filter: letters, digits and `_` form words; `.` and `'` join letters to letters and
/// digits to digits (`www.google.com`, `5.0`), `:` joins letters (`a:b`), `,` and `;` join digits
/// (`1,000`); everything else separates. Tokens longer than 255 characters are cut, as Lucene does.
#[derive(Clone, Default)]
pub struct StandardTokenizer {
    token: Token,
}

const MAX_TOKEN_CHARS: usize = 255;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    /// `_`: joins anything word-like.
    Extend,
    /// `.` `'`: between two letters or two digits.
    MidNumLet,
    /// `:`: between two letters.
    MidLetter,
    /// `,` `;`: between two digits.
    MidNum,
    Other,
}

fn class(c: char) -> Class {
    match c {
        'a'..='z' | 'A'..='Z' => Class::Letter,
        '0'..='9' => Class::Digit,
        '_' => Class::Extend,
        '.' | '\'' | '\u{2018}' | '\u{2019}' | '\u{2024}' | '\u{FE52}' | '\u{FF07}' | '\u{FF0E}' => Class::MidNumLet,
        ':' | '\u{00B7}' | '\u{0387}' | '\u{05F4}' | '\u{2027}' | '\u{FE13}' | '\u{FE55}' | '\u{FF1A}' => {
            Class::MidLetter
        }
        ',' | ';' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}' | '\u{07F8}' | '\u{2044}'
        | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}' | '\u{FF0C}' | '\u{FF1B}' => Class::MidNum,
        c if c.is_ascii() => Class::Other,
        c if c.is_numeric() => Class::Digit,
        c if c.is_alphabetic() => Class::Letter,
        _ => Class::Other,
    }
}

fn is_word(c: Class) -> bool {
    matches!(c, Class::Letter | Class::Digit | Class::Extend)
}

/// Whether `mid` (between `prev` and `next`) keeps a word going.
fn joins(prev: Class, mid: Class, next: Class) -> bool {
    let letters = prev == Class::Letter && next == Class::Letter;
    let digits = prev == Class::Digit && next == Class::Digit;
    match mid {
        Class::MidNumLet => letters || digits,
        Class::MidLetter => letters,
        Class::MidNum => digits,
        _ => false,
    }
}

fn char_at(text: &str, at: usize) -> Option<char> {
    text.get(at..)?.chars().next()
}

/// The next word of `text` at or after byte `from`, as byte offsets `[start, end)`.
fn next_word(text: &str, from: usize) -> Option<(usize, usize)> {
    next_word_by(|at| char_at(text, at).map(|c| (class(c), c.len_utf8())), from)
}

/// [`class`] of every ASCII byte.
const ASCII_CLASS: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
            b'0'..=b'9' => Class::Digit,
            b'_' => Class::Extend,
            b'.' | b'\'' => Class::MidNumLet,
            b':' => Class::MidLetter,
            b',' | b';' => Class::MidNum,
            _ => Class::Other,
        };
        b += 1;
    }
    table
};

/// [`next_word`] for ASCII text (most of an access log): a byte at a time through [`ASCII_CLASS`].
fn next_ascii_word(text: &[u8], from: usize) -> Option<(usize, usize)> {
    next_word_by(|at| text.get(at).map(|b| (ASCII_CLASS[usize::from(*b & 0x7f)], 1)), from)
}

/// The word rules over `at`, which gives the class and byte length of the character at a byte offset
/// (`None` past the end).
#[inline(always)]
fn next_word_by(at: impl Fn(usize) -> Option<(Class, usize)>, mut from: usize) -> Option<(usize, usize)> {
    loop {
        // Skip to the next word character.
        let (first, width) = loop {
            let (class, width) = at(from)?;
            if is_word(class) {
                break (class, width);
            }
            from += width;
        };
        let start = from;
        let mut prev = first;
        let mut alphanumeric = first != Class::Extend;
        let mut end = from + width;
        while let Some((class, width)) = at(end) {
            if is_word(class) {
                alphanumeric |= class != Class::Extend;
                prev = class;
                end += width;
                continue;
            }
            let after = end + width;
            match at(after) {
                Some((next, _)) if is_word(next) && joins(prev, class, next) => end = after,
                _ => break,
            }
        }
        // A run of `_` alone is no word.
        if alphanumeric {
            return Some((start, end));
        }
        from = end;
    }
}

/// The tokens of `text`, in order (duplicates kept).
pub fn tokens(text: &str) -> Vec<String> {
    let mut tokenizer = StandardTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

pub struct StandardTokenStream<'a> {
    text: &'a str,
    /// `text` is ASCII: words are found and lower-cased a byte at a time.
    ascii: bool,
    /// Where to look for the next word.
    cursor: usize,
    /// The rest of the current word (more than one token when it is longer than the limit).
    word: (usize, usize),
    token: &'a mut Token,
}

impl Tokenizer for StandardTokenizer {
    type TokenStream<'a> = StandardTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> StandardTokenStream<'a> {
        self.token.reset();
        StandardTokenStream { text, ascii: text.is_ascii(), cursor: 0, word: (0, 0), token: &mut self.token }
    }
}

impl TokenStream for StandardTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let (mut at, end) = self.word;
            if at < end {
                let token = &mut *self.token;
                token.text.clear();
                token.offset_from = at;
                if self.ascii {
                    let cut = end.min(at + MAX_TOKEN_CHARS);
                    token.text.push_str(&self.text[at..cut]);
                    token.text.make_ascii_lowercase();
                    at = cut;
                } else {
                    for c in self.text[at..end].chars().take(MAX_TOKEN_CHARS) {
                        if c.is_ascii() {
                            token.text.push(c.to_ascii_lowercase());
                        } else {
                            token.text.extend(c.to_lowercase());
                        }
                        at += c.len_utf8();
                    }
                }
                token.offset_to = at;
                token.position = token.position.wrapping_add(1);
                self.word.0 = at;
                return true;
            }
            let word = if self.ascii {
                next_ascii_word(self.text.as_bytes(), self.cursor)
            } else {
                next_word(self.text, self.cursor)
            };
            match word {
                Some((start, end)) => {
                    self.word = (start, end);
                    self.cursor = end;
                }
                None => return false,
            }
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_standard_analyser() {
        assert_eq!(
            tokens("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            ["mozilla", "5.0", "compatible", "googlebot", "2.1", "http", "www.google.com", "bot.html"]
        );
        assert_eq!(tokens("/blog/tags/puppet?flav=rss20"), ["blog", "tags", "puppet", "flav", "rss20"]);
        assert_eq!(tokens("googlebot OR *:* AND -x"), ["googlebot", "or", "and", "x"]);
        assert_eq!(
            tokens("a.1 1.a v1.2 don't x86_64 __ 1,000 a,b a:b rv:27.0 en-US"),
            ["a", "1", "1", "a", "v1.2", "don't", "x86_64", "1,000", "a", "b", "a:b", "rv", "27.0", "en", "us"]
        );
        assert_eq!(tokens("...trailing. Ünïcödé"), ["trailing", "ünïcödé"]);
        assert!(tokens("").is_empty() && tokens("*:* -").is_empty());
        let long = "a".repeat(300);
        assert_eq!(tokens(&long), ["a".repeat(255), "a".repeat(45)]);
    }

    #[test]
    fn ascii_text_splits_into_the_same_words_byte_by_byte() {
        for b in 0u8..128 {
            assert!(ASCII_CLASS[usize::from(b)] == class(char::from(b)), "byte {b}");
        }
        let log = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/access_logs/elastic_examples_apache_logs.log"
        ))
        .unwrap();
        let mut texts: Vec<String> = log.lines().map(str::to_owned).collect();
        texts.extend(
            ["a.1 1.a v1.2 don't x86_64 __ 1,000 a,b a:b rv:27.0 en-US", "_a_ __ a__b .x. 1..2 a'' ;1;2; :a:b:", "x"]
                .map(str::to_owned),
        );
        let words = |text: &str, next: &dyn Fn(usize) -> Option<(usize, usize)>| {
            let mut out = Vec::new();
            let mut from = 0;
            while let Some((start, end)) = next(from) {
                out.push(text[start..end].to_owned());
                from = end;
            }
            out
        };
        for text in &texts {
            assert!(text.is_ascii());
            assert_eq!(
                words(text, &|from| next_ascii_word(text.as_bytes(), from)),
                words(text, &|from| next_word(text, from)),
                "{text}"
            );
        }
    }
}
