"""Where the clocks of a time zone change: every DST fold and gap, for the timestamp tests.

Found by scanning the zone's UTC offset (Python's zoneinfo, the system's tz database) every
12 hours and bisecting each change to the second, so the tests need no list of dates of their own.
"""
import datetime
import zoneinfo

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = datetime.timedelta(microseconds=1)

# A zone with DST each way of UTC, one with a 30-minute DST shift, one with a half-hour offset
# and war-time changes only (1941-1945).
ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata")


def offset_at(zone, instant):
    return instant.astimezone(zone).utcoffset()


def transitions(zone_name, first_year=1900, last_year=2040):
    """[(instant, offset before, offset after)] for every change of the zone's UTC offset."""
    zone = zoneinfo.ZoneInfo(zone_name)
    step = datetime.timedelta(hours=12)
    here = datetime.datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime.datetime(last_year + 1, 1, 1, tzinfo=UTC)
    before = offset_at(zone, here)
    found = []
    while here < end:
        after = offset_at(zone, here + step)
        if after != before:
            low, high = int((here - EPOCH).total_seconds()), int((here + step - EPOCH).total_seconds())
            while high - low > 1:  # offset(low) is the old one, offset(high) the new one
                middle = (low + high) // 2
                if offset_at(zone, EPOCH + datetime.timedelta(seconds=middle)) == before:
                    low = middle
                else:
                    high = middle
            found.append((EPOCH + datetime.timedelta(seconds=high), before, after))
            before = after
        here += step
    return found


def instants_around(instant, before, after):
    """Instants that matter at one change: both occurrences of a repeated (folded) wall-clock
    time, or the edges of a skipped one (a gap)."""
    shift = abs(before - after)
    if after < before:  # a fold: the wall clock goes back by `shift` and repeats it
        first = [instant - shift, instant - shift / 2, instant - MICROSECOND]
        return first + [moment + shift for moment in first]  # the same wall-clock times again
    return [instant - shift / 2, instant - MICROSECOND, instant, instant + MICROSECOND, instant + shift / 2]


def micros(instant):
    return (instant - EPOCH) // MICROSECOND


def utc_text(epoch_micros):
    """The service's UTC text for an instant given in microseconds since the epoch (no zone involved)."""
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=epoch_micros)
    return moment.isoformat(timespec="microseconds") + "Z"
