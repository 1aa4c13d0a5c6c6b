"""A log agent that does what the Amazon Kinesis Agent does with an access log, written from its
documentation ("Writing to Amazon Kinesis Data Streams using Kinesis Agent", the agent's
`dataProcessingOptions`), independent of firesight's code:

- it tails a file the way the agent's file tailer does: it remembers the open file and its inode, reads
  what was appended, and when the path names another file (the log was rotated by renaming it and the
  server reopened the path) it reads the old file to its end before it opens the new one, so no line is
  lost across a rotation; a truncated file is read again from its start;
- each *flow* sends the file's lines to one Kinesis data stream, after its processing options:
  `SINGLELINE` (leading and trailing spaces and line breaks removed, a line break appended) or
  `LOGTOJSON` with `logFormat` `COMBINEDAPACHELOG` (the nine fields host, ident, authuser, datetime,
  request, response, bytes, referrer, agent; `-` becomes null; a line that does not match the pattern is
  skipped and counted, as the agent does);
- records go out with PutRecords in batches of up to 500 records, each with a random partition key (the
  agent's default); records the stream refused (throttling) are sent again, so every line is put once.
"""

import json
import os
import re
import threading
import time
import uuid

# The agent's COMBINEDAPACHELOG pattern (its ApacheLogParser), as a Python regex.
COMBINED = re.compile(
    r'^(?P<host>\S+) (?P<ident>\S+) (?P<authuser>\S+) \[(?P<datetime>[^\]]+)\] "(?P<request>[^"]*)" '
    r'(?P<response>\S+) (?P<bytes>\S+) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"'
)
FIELDS = ("host", "ident", "authuser", "datetime", "request", "response", "bytes", "referrer", "agent")
MAX_BATCH = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024


def single_line(line):
    return (line.strip().replace("\n", "").replace("\r", "") + "\n").encode()


def log_to_json(line):
    m = COMBINED.match(line.strip())
    if not m:
        return None
    doc = {f: (None if m.group(f) == "-" else m.group(f)) for f in FIELDS}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


class Flow:
    """One stream fed from the file, with its processing option."""

    def __init__(self, kinesis, stream, option):
        assert option in ("SINGLELINE", "LOGTOJSON")
        self.kinesis = kinesis
        self.stream = stream
        self.option = option
        self.pending = []
        self.sent = 0
        self.skipped = 0
        self.retried = 0

    def add(self, line):
        data = single_line(line) if self.option == "SINGLELINE" else log_to_json(line)
        if data is None:
            self.skipped += 1
            return
        self.pending.append(data)
        if len(self.pending) >= MAX_BATCH:
            self.flush()

    def flush(self):
        while self.pending:
            batch, size = [], 0
            while self.pending and len(batch) < MAX_BATCH and size + len(self.pending[0]) + 256 < MAX_BATCH_BYTES:
                size += len(self.pending[0]) + 256
                batch.append(self.pending.pop(0))
            self._put(batch)

    def _put(self, batch):
        entries = [{"Data": d, "PartitionKey": uuid.uuid4().hex} for d in batch]
        delay = 0.05
        while entries:
            answer = self.kinesis.put_records(StreamName=self.stream, Records=entries)
            failed = [e for e, r in zip(entries, answer["Records"]) if "ErrorCode" in r]
            self.sent += len(entries) - len(failed)
            if failed:
                self.retried += len(failed)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            entries = failed


class Agent(threading.Thread):
    """Tails `path` and feeds every flow until `stop()` and the file is read to its end."""

    def __init__(self, path, flows, poll=0.2):
        super().__init__(daemon=True, name="agent")
        self.path = path
        self.flows = flows
        self.poll = poll
        self.lines = 0
        self.rotations = 0
        self.error = None
        self._stopping = threading.Event()
        self._file = None
        self._inode = None
        self._partial = ""

    def stop(self):
        self._stopping.set()

    def run(self):
        try:
            self._loop()
        except Exception as e:  # surfaced by the orchestrator
            self.error = e

    def _open(self):
        try:
            f = open(self.path, "r", encoding="utf-8", errors="replace", newline="")
        except FileNotFoundError:
            return False
        self._file, self._inode, self._partial = f, os.fstat(f.fileno()).st_ino, ""
        return True

    def _drain(self):
        """Reads what was appended; complete lines only (a partial last line waits for its end)."""
        chunk = self._file.read()
        if not chunk:
            return 0
        text = self._partial + chunk
        parts = text.split("\n")
        self._partial = parts.pop()
        for line in parts:
            if line.strip():
                self.lines += 1
                for flow in self.flows:
                    flow.add(line)
        return len(parts)

    def _loop(self):
        while self._file is None and not self._stopping.is_set():
            if not self._open():
                time.sleep(self.poll)
        while True:
            stopping = self._stopping.is_set()
            self._drain()
            try:
                st = os.stat(self.path)
                rotated = st.st_ino != self._inode
                truncated = not rotated and st.st_size < self._file.tell()
            except FileNotFoundError:
                rotated, truncated = False, False
            if rotated:
                self._drain()  # the rest of the old file, then the new one
                self._file.close()
                self.rotations += 1
                self._open()
                continue
            if truncated:
                self._file.seek(0)
                self._partial = ""
                continue
            for flow in self.flows:
                flow.flush()
            if stopping:
                return
            time.sleep(self.poll)
