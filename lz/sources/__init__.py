"""Where jobs come from. Every source hands new jobs to intake, the one door; the tick asks each
source for work once per tick (see ``base.JobSource``)."""
