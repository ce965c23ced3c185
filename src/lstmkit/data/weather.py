"""Seattle daily weather 2012-2015 (NOAA, public domain): embedded, or a CSV of the same form.

Columns: precipitation (mm), temp_max and temp_min (degrees C), wind (m/s), weather
(drizzle, rain, sun, snow, fog: categorical); 1,461 days, indexed by date.
"""

from pathlib import Path

from lstmkit.data.timetable import read_time_csv

EMBEDDED = Path(__file__).parent / "embedded" / "seattle-weather.csv.gz"


def load_weather(path=None, echo=print):
    """(weather DataFrame, source) from path, else the embedded file."""
    frame = read_time_csv(EMBEDDED if path is None else path, echo=echo)
    return frame, "embedded Seattle weather" if path is None else str(path)
