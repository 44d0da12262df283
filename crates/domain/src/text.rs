//! Japanese text folding for search: NFKC (full- and half-width alike), katakana folded to
//! hiragana, lowercase, whitespace collapsed.

use unicode_normalization::UnicodeNormalization;

/// Folds text so that a query and a stored name compare as a person means them.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    for c in s.nfkc() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        let c = match c {
            // Katakana ァ..ヶ → hiragana ぁ..ゖ
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        };
        out.extend(c.to_lowercase());
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The key under which a person's kana name is matched: folded, and without spaces, so
/// 「やまだ はなこ」, 「ヤマダハナコ」 and 「ﾔﾏﾀﾞ ﾊﾅｺ」 are one name.
pub fn name_key(s: &str) -> String {
    fold(s).replace(' ', "")
}

/// Whether a text is written in kana (hiragana or katakana, with spaces and the long-vowel mark).
pub fn is_kana_text(s: &str) -> bool {
    s.nfkc().all(|c| {
        c.is_whitespace()
            || matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | '゛' | '゜')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_width_katakana_finds_hiragana() {
        assert_eq!(fold("ｶﾅｻﾞﾜ"), fold("かなざわ"));
    }

    #[test]
    fn full_width_letters_and_digits_fold_to_ascii() {
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
    }

    #[test]
    fn kanji_are_kept() {
        assert_eq!(fold("金沢市"), "金沢市");
    }

    #[test]
    fn spaces_collapse() {
        assert_eq!(fold("  山田　 花子 "), "山田 花子");
    }

    #[test]
    fn name_keys_ignore_spaces_and_script() {
        assert_eq!(name_key("やまだ はなこ"), name_key("ﾔﾏﾀﾞﾊﾅｺ"));
        assert_eq!(name_key("ヤマダ　ハナコ"), "やまだはなこ");
    }

    #[test]
    fn kana_text_is_recognised() {
        assert!(is_kana_text("やまだ はなこ"));
        assert!(is_kana_text("ﾔﾏﾀﾞ"));
        assert!(!is_kana_text("山田"));
    }
}
