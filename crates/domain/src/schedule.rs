//! Physician consultation hours (医師への相談可能な時間帯): the weekly hours in which a physician
//! takes care managers' calls, the days that differ from them, and Japanese public holidays.
//!
//! Times are minutes of the day in Asia/Tokyo (0 = 00:00, 1440 = 24:00); weekdays count from
//! Monday (0) to Sunday (6). A range never crosses midnight: hours that do are two ranges.
//!
//! The rule, [`open_at`], is the one the store's "consultation possible at" filter writes in
//! SQL (`crates/store/src/directory/mod.rs`); a contract test holds the two together:
//! a day with exceptions follows its exceptions alone (closed, or open at the hours they give);
//! any other day follows the weekly hours, and on a public holiday only when the provider says
//! its hours hold on holidays.

use time::{Date, Duration};

use crate::{FieldError, Invalid};

/// Minutes in a day: the latest end of a range (24:00).
pub const DAY_MINUTES: u16 = 1440;

/// How far ahead [`next_open`] looks, in days after today.
pub const LOOKAHEAD_DAYS: i64 = 14;

/// A span of one day, `start` inclusive, `end` exclusive, `start < end ≤ 24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    pub start: u16,
    pub end: u16,
}

impl TimeRange {
    /// A range from stored minutes (`end` may be 1440).
    pub fn new(start: i64, end: i64) -> Result<Self, FieldError> {
        let (Ok(s), Ok(e)) = (u16::try_from(start), u16::try_from(end)) else {
            return Err(FieldError::new("start", "error.schedule.bad_time"));
        };
        if s >= DAY_MINUTES {
            return Err(FieldError::new("start", "error.schedule.bad_time"));
        }
        if e > DAY_MINUTES {
            return Err(FieldError::new("end", "error.schedule.bad_time"));
        }
        if e <= s {
            return Err(FieldError::new("end", "error.schedule.end_after_start"));
        }
        Ok(Self { start: s, end: e })
    }

    /// A range as typed: `start` and `end` as `HH:MM` (full-width digits and colons too;
    /// `24:00` as the end). Each field's error names its field.
    pub fn parse(start: &str, end: &str) -> Result<Self, Invalid> {
        let mut errs = Invalid::default();
        let s = parse_time("start", start, false).map_err(|e| errs.push(e)).ok();
        let e = parse_time("end", end, true).map_err(|e| errs.push(e)).ok();
        let (Some(s), Some(e)) = (s, e) else { return Err(errs) };
        if e <= s {
            return Err(FieldError::new("end", "error.schedule.end_after_start").into());
        }
        Ok(Self { start: s, end: e })
    }

    pub fn contains(self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }

    /// `14:00–16:00`.
    pub fn label(self) -> String {
        format!("{}–{}", format_minute(self.start), format_minute(self.end))
    }
}

/// Parses a time of day as a person types it: `14:00`, `9:05`, `１４：００`, `14:00:00` (what
/// some browsers send from a time input), `14時`, `14時30分`. `24:00` only when `is_end`.
pub fn parse_time(field: &'static str, s: &str, is_end: bool) -> Result<u16, FieldError> {
    let bad = || FieldError::new(field, "error.schedule.bad_time");
    let folded = crate::text::fold(s).replace(' ', "");
    if folded.is_empty() {
        return Err(FieldError::new(field, "error.required"));
    }
    let mut normal = folded.replace('時', ":").replace('分', "");
    // Digits alone, as typed on a phone's number pad: `14` is 14:00, `1430` and `930` are
    // 14:30 and 9:30.
    if !normal.contains(':') && normal.bytes().all(|b| b.is_ascii_digit()) {
        normal = match normal.len() {
            1 | 2 => format!("{normal}:00"),
            3 | 4 => format!("{}:{}", &normal[..normal.len() - 2], &normal[normal.len() - 2..]),
            _ => return Err(bad()),
        };
    }
    let mut parts = normal.split(':');
    let h = parts.next().unwrap_or("");
    let m = parts.next().unwrap_or("");
    let sec = parts.next();
    if parts.next().is_some() {
        return Err(bad());
    }
    let digits = |p: &str, max_len: usize| {
        !p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !(m.is_empty() || (digits(m, 2) && m.len() == 2)) {
        return Err(bad());
    }
    if let Some(sec) = sec
        && (m.is_empty() || sec != "00")
    {
        return Err(bad());
    }
    let hour: u16 = h.parse().map_err(|_| bad())?;
    let minute: u16 = if m.is_empty() { 0 } else { m.parse().map_err(|_| bad())? };
    if minute > 59 {
        return Err(bad());
    }
    let total = hour * 60 + minute;
    if hour < 24 || (is_end && total == DAY_MINUTES) { Ok(total) } else { Err(bad()) }
}

/// `HH:MM` (`24:00` for the end of the day).
pub fn format_minute(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A weekday as a form sends it: `0` (Monday) to `6` (Sunday).
pub fn parse_weekday(field: &'static str, s: &str) -> Result<u8, FieldError> {
    match crate::text::fold(s).trim().parse::<u8>() {
        Ok(w) if w <= 6 => Ok(w),
        _ => Err(FieldError::new(field, "error.unknown_choice")),
    }
}

/// The weekday of a date, 0 = Monday.
pub fn weekday_of(d: Date) -> u8 {
    d.weekday().number_days_from_monday()
}

/// One weekly range of consultation hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeeklySlot {
    pub weekday: u8,
    pub hours: TimeRange,
}

impl WeeklySlot {
    /// A slot from stored numbers.
    pub fn new(weekday: i64, start: i64, end: i64) -> Result<Self, FieldError> {
        let weekday = u8::try_from(weekday)
            .ok()
            .filter(|w| *w <= 6)
            .ok_or_else(|| FieldError::new("weekday", "error.unknown_choice"))?;
        Ok(Self { weekday, hours: TimeRange::new(start, end)? })
    }

    /// A slot as typed into the form.
    pub fn parse(weekday: &str, start: &str, end: &str) -> Result<Self, Invalid> {
        let w = parse_weekday("weekday", weekday);
        let r = TimeRange::parse(start, end);
        match (w, r) {
            (Ok(weekday), Ok(hours)) => Ok(Self { weekday, hours }),
            (w, r) => {
                let mut errs = Invalid::default();
                if let Err(e) = w {
                    errs.push(e);
                }
                if let Err(e) = r {
                    errs.0.extend(e.0);
                }
                Err(errs)
            }
        }
    }
}

/// A day that differs from the weekly hours: closed all day, or open at these hours (a day
/// may have several open ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayException {
    Closed,
    Open(TimeRange),
}

/// Whether consultation is possible at `minute` of a day with this `weekday`, given the
/// provider's weekly slots, the exceptions of that day (empty: none), whether the day is a
/// public holiday, and whether the provider's hours hold on holidays.
///
/// The SQL filter `ProviderQuery.consult_at` is this rule; keep them equal.
pub fn open_at(
    slots: &[WeeklySlot],
    exceptions: &[DayException],
    is_holiday: bool,
    consult_on_holidays: bool,
    weekday: u8,
    minute: u16,
) -> bool {
    if !exceptions.is_empty() {
        return exceptions.iter().any(|e| matches!(e, DayException::Open(r) if r.contains(minute)));
    }
    if is_holiday && !consult_on_holidays {
        return false;
    }
    slots.iter().any(|s| s.weekday == weekday && s.hours.contains(minute))
}

/// The hours of one day under the same rule as [`open_at`], sorted, with overlapping and
/// touching ranges joined (14:00–16:00 and 16:00–17:00 are 14:00–17:00).
pub fn hours_on(
    slots: &[WeeklySlot],
    exceptions: &[DayException],
    is_holiday: bool,
    consult_on_holidays: bool,
    weekday: u8,
) -> Vec<TimeRange> {
    let mut ranges: Vec<TimeRange> = if !exceptions.is_empty() {
        exceptions
            .iter()
            .filter_map(|e| match e {
                DayException::Open(r) => Some(*r),
                DayException::Closed => None,
            })
            .collect()
    } else if is_holiday && !consult_on_holidays {
        Vec::new()
    } else {
        slots.iter().filter(|s| s.weekday == weekday).map(|s| s.hours).collect()
    };
    ranges.sort();
    let mut out: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// A time consultation is possible: a day and a range of it (the range starts at the moment
/// asked about when that moment is already inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTime {
    pub day: Date,
    pub hours: TimeRange,
}

/// The first moment at or after `from_minute` of `from_day` at which consultation is possible,
/// looking [`LOOKAHEAD_DAYS`] ahead, honouring exceptions and holidays like [`open_at`].
/// `exceptions` are every exception of the provider in that window (others are ignored);
/// `is_holiday` says which days are public holidays (`crate::holiday::is_holiday`).
pub fn next_open(
    slots: &[WeeklySlot],
    exceptions: &[(Date, DayException)],
    consult_on_holidays: bool,
    is_holiday: impl Fn(Date) -> bool,
    from_day: Date,
    from_minute: u16,
) -> Option<OpenTime> {
    for offset in 0..=LOOKAHEAD_DAYS {
        let day = from_day.checked_add(Duration::days(offset))?;
        let of_day: Vec<DayException> =
            exceptions.iter().filter(|(d, _)| *d == day).map(|(_, e)| *e).collect();
        let ranges = hours_on(slots, &of_day, is_holiday(day), consult_on_holidays, weekday_of(day));
        let earliest = if offset == 0 { from_minute } else { 0 };
        if let Some(r) = ranges.into_iter().find(|r| r.end > earliest) {
            return Some(OpenTime { day, hours: TimeRange { start: r.start.max(earliest), end: r.end } });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn slot(weekday: u8, start: &str, end: &str) -> WeeklySlot {
        WeeklySlot::parse(&weekday.to_string(), start, end).unwrap()
    }

    fn open(start: &str, end: &str) -> DayException {
        DayException::Open(TimeRange::parse(start, end).unwrap())
    }

    fn m(s: &str) -> u16 {
        parse_time("t", s, true).unwrap()
    }

    const TUE: u8 = 1;

    #[test]
    fn a_tuesday_afternoon_slot_is_open_at_three_and_closed_at_four() {
        let s = [slot(TUE, "14:00", "16:00")];
        assert!(open_at(&s, &[], false, false, TUE, m("15:00")));
        assert!(open_at(&s, &[], false, false, TUE, m("14:00")));
        assert!(!open_at(&s, &[], false, false, TUE, m("16:00")));
        assert!(!open_at(&s, &[], false, false, TUE, m("13:59")));
    }

    #[test]
    fn a_tuesday_slot_is_closed_on_other_weekdays() {
        let s = [slot(TUE, "14:00", "16:00")];
        for w in [0, 2, 3, 4, 5, 6] {
            assert!(!open_at(&s, &[], false, false, w, m("15:00")), "weekday {w}");
        }
    }

    #[test]
    fn a_holiday_tuesday_is_closed_unless_hours_hold_on_holidays() {
        let s = [slot(TUE, "14:00", "16:00")];
        assert!(!open_at(&s, &[], true, false, TUE, m("15:00")));
        assert!(open_at(&s, &[], true, true, TUE, m("15:00")));
    }

    #[test]
    fn an_exception_day_follows_the_exception_only() {
        let s = [slot(TUE, "14:00", "16:00")];
        let evening = [open("18:00", "20:00")];
        assert!(!open_at(&s, &evening, false, false, TUE, m("15:00")));
        assert!(open_at(&s, &evening, false, false, TUE, m("19:00")));
        assert!(!open_at(&s, &[DayException::Closed], false, false, TUE, m("15:00")));
    }

    #[test]
    fn an_exception_opens_even_a_holiday_without_weekly_hours() {
        assert!(open_at(&[], &[open("10:00", "12:00")], true, false, 0, m("11:00")));
    }

    #[test]
    fn an_open_exception_wins_over_a_closed_one_on_the_same_day() {
        let both = [DayException::Closed, open("10:00", "11:00")];
        assert!(open_at(&[], &both, false, false, TUE, m("10:30")));
        assert!(!open_at(&[], &both, false, false, TUE, m("11:00")));
    }

    #[test]
    fn times_parse_in_full_width_and_with_japanese_units() {
        assert_eq!(parse_time("start", "１４：００", false), Ok(840));
        assert_eq!(parse_time("start", "9:05", false), Ok(545));
        assert_eq!(parse_time("start", "14:00:00", false), Ok(840));
        assert_eq!(parse_time("start", "14時30分", false), Ok(870));
        assert_eq!(parse_time("start", "14時", false), Ok(840));
    }

    #[test]
    fn digits_alone_from_a_number_pad_are_hours_and_minutes() {
        assert_eq!(parse_time("start", "1430", false), Ok(870));
        assert_eq!(parse_time("start", "930", false), Ok(570));
        assert_eq!(parse_time("start", "９", false), Ok(540));
        assert_eq!(parse_time("end", "2400", true), Ok(1440));
        assert!(parse_time("start", "14300", false).is_err());
        assert!(parse_time("start", "1460", false).is_err());
    }

    #[test]
    fn twenty_four_hundred_is_only_an_end() {
        assert_eq!(parse_time("end", "24:00", true), Ok(1440));
        assert_eq!(parse_time("start", "24:00", false).unwrap_err().code, "error.schedule.bad_time");
        assert!(parse_time("end", "24:01", true).is_err());
    }

    #[test]
    fn malformed_times_are_refused_with_their_field() {
        for bad in ["25:00", "12:60", "12:5", "noon", "12:00:30", "1:2:3:4", "-1:00", "123:00"] {
            let e = parse_time("start", bad, false).unwrap_err();
            assert_eq!((e.field, e.code), ("start", "error.schedule.bad_time"), "{bad}");
        }
        assert_eq!(parse_time("end", " ", true).unwrap_err().code, "error.required");
    }

    #[test]
    fn the_end_must_come_after_the_start() {
        let e = TimeRange::parse("16:00", "14:00").unwrap_err();
        assert_eq!(e.0[0].field, "end");
        assert_eq!(e.0[0].code, "error.schedule.end_after_start");
        assert!(TimeRange::parse("14:00", "14:00").is_err());
        assert!(TimeRange::new(0, 1440).is_ok());
        assert!(TimeRange::new(600, 1441).is_err());
    }

    #[test]
    fn a_slot_with_a_bad_weekday_and_a_bad_time_names_both_fields() {
        let e = WeeklySlot::parse("7", "ab", "16:00").unwrap_err();
        assert!(e.has("weekday") && e.has("start"), "{e}");
        assert!(WeeklySlot::new(7, 0, 60).is_err());
    }

    #[test]
    fn minutes_format_as_hours_and_minutes() {
        assert_eq!(format_minute(545), "09:05");
        assert_eq!(format_minute(1440), "24:00");
        assert_eq!(TimeRange { start: 840, end: 960 }.label(), "14:00–16:00");
    }

    #[test]
    fn touching_and_overlapping_slots_join_into_one_range() {
        let s = [
            slot(TUE, "16:00", "17:00"),
            slot(TUE, "14:00", "16:00"),
            slot(TUE, "09:00", "10:00"),
            slot(TUE, "09:30", "09:45"),
        ];
        let r = hours_on(&s, &[], false, false, TUE);
        assert_eq!(r, vec![TimeRange { start: 540, end: 600 }, TimeRange { start: 840, end: 1020 }]);
    }

    #[test]
    fn hours_on_a_day_agree_with_open_at_at_every_minute() {
        let s = [slot(TUE, "14:00", "16:00"), slot(TUE, "15:00", "17:30"), slot(3, "09:00", "12:00")];
        let cases: [(&[DayException], bool, bool); 5] = [
            (&[], false, false),
            (&[], true, false),
            (&[], true, true),
            (&[DayException::Closed], false, false),
            (&[DayException::Closed, open("18:00", "20:00"), open("19:00", "21:00")], true, false),
        ];
        for (ex, hol, on_hol) in cases {
            for w in 0..7 {
                let ranges = hours_on(&s, ex, hol, on_hol, w);
                for minute in 0..DAY_MINUTES {
                    assert_eq!(
                        open_at(&s, ex, hol, on_hol, w, minute),
                        ranges.iter().any(|r| r.contains(minute)),
                        "weekday {w} minute {minute} exceptions {ex:?} holiday {hol}"
                    );
                }
            }
        }
    }

    // 2026-11-24 is a Tuesday; 2026-11-23 (Monday) is 勤労感謝の日; 2026-11-03 (Tuesday) is 文化の日.

    #[test]
    fn next_open_is_now_when_consultation_is_possible_now() {
        let s = [slot(TUE, "14:00", "16:00")];
        let n =
            next_open(&s, &[], false, crate::holiday::is_holiday, date!(2026 - 11 - 24), m("15:00")).unwrap();
        assert_eq!((n.day, n.hours.label()), (date!(2026 - 11 - 24), "15:00–16:00".to_string()));
    }

    #[test]
    fn next_open_later_today_starts_at_the_slot() {
        let s = [slot(TUE, "14:00", "16:00")];
        let n =
            next_open(&s, &[], false, crate::holiday::is_holiday, date!(2026 - 11 - 24), m("09:30")).unwrap();
        assert_eq!((n.day, n.hours.label()), (date!(2026 - 11 - 24), "14:00–16:00".to_string()));
    }

    #[test]
    fn next_open_after_the_slot_ended_is_next_week() {
        let s = [slot(TUE, "14:00", "16:00")];
        let n =
            next_open(&s, &[], false, crate::holiday::is_holiday, date!(2026 - 11 - 24), m("16:00")).unwrap();
        assert_eq!(n.day, date!(2026 - 12 - 01));
    }

    #[test]
    fn next_open_skips_a_holiday_unless_hours_hold_on_holidays() {
        let s = [slot(0, "10:00", "12:00")];
        // From Sunday 2026-11-22: Monday the 23rd is a holiday.
        let n = next_open(&s, &[], false, crate::holiday::is_holiday, date!(2026 - 11 - 22), 0).unwrap();
        assert_eq!(n.day, date!(2026 - 11 - 30));
        let n = next_open(&s, &[], true, crate::holiday::is_holiday, date!(2026 - 11 - 22), 0).unwrap();
        assert_eq!(n.day, date!(2026 - 11 - 23));
    }

    #[test]
    fn next_open_follows_exceptions_closed_and_open() {
        let s = [slot(TUE, "14:00", "16:00")];
        let ex =
            [(date!(2026 - 11 - 24), DayException::Closed), (date!(2026 - 11 - 26), open("18:00", "19:00"))];
        let n = next_open(&s, &ex, false, crate::holiday::is_holiday, date!(2026 - 11 - 24), 0).unwrap();
        assert_eq!((n.day, n.hours.label()), (date!(2026 - 11 - 26), "18:00–19:00".to_string()));
    }

    #[test]
    fn next_open_gives_up_after_the_lookahead() {
        assert_eq!(next_open(&[], &[], true, |_| false, date!(2026 - 11 - 24), 0), None);
        // Only open in three weeks' time (an exception): beyond the lookahead.
        let far = [(date!(2026 - 12 - 15), open("10:00", "11:00"))];
        assert_eq!(next_open(&[], &far, false, |_| false, date!(2026 - 11 - 24), 0), None);
        // Exactly fourteen days ahead is still found.
        let edge = [(date!(2026 - 12 - 08), open("10:00", "11:00"))];
        assert!(next_open(&[], &edge, false, |_| false, date!(2026 - 11 - 24), 0).is_some());
    }
}
