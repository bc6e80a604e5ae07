"""Calendar, Contacts, Tasks and Notes (MS-ASCAL, MS-ASCNTC, MS-ASTASK, MS-ASNOTE), without I/O.

A PIM item is kept as the tree the device sent, normalised to one form for every protocol version
(`tree`), and rendered back per version.  `timezone` reads and writes the MS-ASDTYPE TimeZone
blob, `recurrence` maps EAS Recurrence to iCalendar RRULE and expands occurrences, `ical` turns
iTIP messages (RFC 5546) into events and back.
"""
