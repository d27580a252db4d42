# ruff: noqa: E501, RUF001 - pasted logs and output keep their long lines and typographic quotes
"""PII-free technical prompts: code, stack traces, logs, cluster output, configs, formulas.

Written for Consentry's tests (not taken from any evaluation set). None of them holds personal
data: no names of people, no e-mail or IP addresses, no phone numbers, no URL outside the loopback
host or a package path. A detector that masks anything in them changes the code the model sees
for nothing; `tests/test_technical_prompts_untouched.py` allows at most two of `PROMPTS` any span.
"""

from __future__ import annotations

PROMPTS: list[str] = [
    # ------------------------------------------------------------------------------ Python
    '''Why does this Flask route return 405?

from flask import Flask, request, jsonify
app = Flask(__name__)

@app.route("/items", methods=["GET"])
def list_items():
    items = load_items()
    return jsonify([i.to_dict() for i in items])

@app.route("/items/<int:item_id>", methods=["PUT"])
def update_item(item_id):
    payload = request.get_json()
    return jsonify(save_item(item_id, payload))''',
    '''My Celery worker can't find the task. tasks.py:

from celery import Celery
celery = Celery("worker", broker="redis://localhost:6379/0")

@celery.task(bind=True, max_retries=3, default_retry_delay=30)
def resize_image(self, path: str, width: int) -> str:
    try:
        return do_resize(path, width)
    except IOError as exc:
        raise self.retry(exc=exc)

and I start it with `celery -A tasks worker --loglevel=INFO --concurrency=4`.''',
    """Traceback (most recent call last):
  File "/srv/app/main.py", line 42, in <module>
    main()
  File "/srv/app/main.py", line 37, in main
    result = compute_totals(orders)
  File "/srv/app/billing/totals.py", line 18, in compute_totals
    return sum(o.amount * o.quantity for o in orders) / len(orders)
ZeroDivisionError: division by zero

How do I guard against an empty list here?""",
    """Can you vectorise this loop with numpy?

import numpy as np

def moving_average(values: list[float], window: int = 5) -> list[float]:
    out = []
    for i in range(len(values) - window + 1):
        out.append(sum(values[i : i + window]) / window)
    return out

x = np.linspace(0, 2 * np.pi, 1000)
y = np.sin(x) + 0.1 * np.random.randn(1000)
print(moving_average(list(y), window=25)[:10])""",
    """pandas question: I have a DataFrame with columns order_id, product_id, qty, unit_price.

df["total"] = df["qty"] * df["unit_price"]
summary = df.groupby("product_id").agg(total=("total", "sum"), orders=("order_id", "nunique"))
summary = summary.sort_values("total", ascending=False).head(20)

It is slow on 40M rows (about 90 seconds). Would polars be faster?""",
    """I get this with Python 3.12 but not 3.11.7:

  File "/usr/lib/python3.12/asyncio/base_events.py", line 664, in run_until_complete
    return future.result()
  File "/srv/app/worker.py", line 88, in consume
    async with asyncio.timeout(2.5):
TypeError: 'Timeout' object does not support the asynchronous context manager protocol

pip freeze shows aiohttp==3.9.1, anyio==4.2.0, uvloop==0.19.0.""",
    """Refactor this dataclass so that `updated_at` defaults to now:

from dataclasses import dataclass, field
from datetime import datetime, timezone

@dataclass
class Ticket:
    ticket_id: int
    title: str
    priority: int = 3
    tags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None""",
    """pytest output:

============================= test session starts ==============================
platform linux -- Python 3.11.6, pytest-8.0.2, pluggy-1.4.0
collected 148 items

tests/test_parser.py ........F.......                                     [ 10%]
tests/test_cache.py ....................                                  [ 24%]

=================================== FAILURES ===================================
____________________________ test_parse_duration _______________________________
    def test_parse_duration():
>       assert parse_duration("1h30m") == 5400
E       AssertionError: assert 5300 == 5400
tests/test_parser.py:57: AssertionError
========================= 1 failed, 147 passed in 3.42s ========================""",
    """How do I make this regex also accept an optional port?

import re
HOST = re.compile(r"^(?P<host>[a-z0-9.-]+)(?::(?P<port>\\d{2,5}))?$")
for candidate in ["localhost", "localhost:8080", "db-01:5432"]:
    m = HOST.match(candidate)
    print(candidate, m and m.groupdict())""",
    """FastAPI dependency question:

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy.orm import Session

api = FastAPI()

def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()

@api.get("/orders/{order_id}")
def read_order(order_id: int, db: Session = Depends(get_db)):
    order = db.get(Order, order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order""",
    """Why is this recursion slow for n = 35?

def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)

%timeit fib(25)
23.4 ms ± 312 µs per loop (mean ± std. dev. of 7 runs, 10 loops each)""",
    """mypy complains:

src/pipeline/stages.py:112: error: Argument 1 to "run_stage" has incompatible type "Optional[Stage]"; expected "Stage"  [arg-type]
src/pipeline/stages.py:140: error: Item "None" of "Optional[Config]" has no attribute "retries"  [union-attr]
Found 2 errors in 1 file (checked 37 source files)""",
    # -------------------------------------------------------------------------- JavaScript
    """This React effect runs twice in development, why?

import { useEffect, useState } from "react";

export function Orders({ customerId }) {
  const [orders, setOrders] = useState([]);
  useEffect(() => {
    fetch(`/api/customers/${customerId}/orders`)
      .then((res) => res.json())
      .then((data) => setOrders(data.items));
  }, [customerId]);
  return <OrderTable rows={orders} />;
}""",
    """Node keeps crashing:

node:internal/process/promises:288
            triggerUncaughtException(err, true /* fromPromise */);
            ^

Error: connect ECONNREFUSED /var/run/postgresql/.s.PGSQL.5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {
  errno: -111,
  code: 'ECONNREFUSED',
  syscall: 'connect',
  port: 5432
}

Node.js v20.11.0""",
    """const items = cart.items.filter((i) => i.qty > 0);
const total = items.reduce((sum, i) => sum + i.price * i.qty, 0);
const red = items.red ?? "none";
console.log(`total=${total.toFixed(2)}`);

Why is `items.red` undefined? I expected the color filter from the previous step.""",
    """Express middleware order question:

const express = require("express");
const app = express();
app.use(express.json({ limit: "1mb" }));
app.use("/api", rateLimit({ windowMs: 15 * 60 * 1000, max: 100 }));
app.get("/health", (req, res) => res.send("ok"));
app.listen(3000, () => console.log("listening on 3000"));

Requests to /health get 429 after a while.""",
    """TypeScript generic constraint:

interface Repository<T extends { id: string }> {
  findById(id: string): Promise<T | undefined>;
  save(entity: T): Promise<void>;
}

class MemoryRepo<T extends { id: string }> implements Repository<T> {
  private rows = new Map<string, T>();
  async findById(id: string) { return this.rows.get(id); }
  async save(entity: T) { this.rows.set(entity.id, entity); }
}

error TS2416: Property 'findById' in type 'MemoryRepo<T>' is not assignable to the same property in base type.""",
    """package.json scripts:

{
  "name": "dashboard",
  "version": "2.4.0",
  "scripts": {
    "dev": "vite --port 5173",
    "build": "tsc -b && vite build",
    "test": "vitest run --coverage"
  },
  "dependencies": { "react": "^18.2.0", "zod": "^3.22.4" }
}

npm run build fails with TS6305. What does that mean?""",
    # ----------------------------------------------------------------------------------- Go
    """Go: why does this goroutine leak?

func worker(ctx context.Context, jobs <-chan Job, results chan<- Result) {
	for j := range jobs {
		select {
		case results <- process(j):
		case <-ctx.Done():
			return
		}
	}
}

ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
defer cancel()""",
    """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x4a3f2c]

goroutine 17 [running]:
main.(*Server).handleUpload(0x0, {0x7f1c40, 0xc0001a2000}, 0xc0001b4100)
	/build/cmd/server/upload.go:74 +0x2c
net/http.HandlerFunc.ServeHTTP(0xc0000a6040?, {0x7f1c40?, 0xc0001a2000?}, 0xc0001b4100?)
	/usr/local/go/src/net/http/server.go:2136 +0x29""",
    """go.mod:

module example/inventory

go 1.22

require (
	github.com/jackc/pgx/v5 v5.5.1
	golang.org/x/sync v0.6.0
)

go build says "missing go.sum entry for module providing package". go mod tidy fixes it locally but not in CI.""",
    # --------------------------------------------------------------------------------- Rust
    """Rust borrow checker:

fn longest<'a>(items: &'a [String]) -> Option<&'a String> {
    items.iter().max_by_key(|s| s.len())
}

fn main() {
    let names = vec![String::from("alpha"), String::from("gamma")];
    let l = longest(&names);
    drop(names);
    println!("{:?}", l);
}

error[E0505]: cannot move out of `names` because it is borrowed""",
    """Cargo.toml:

[package]
name = "ingest"
version = "0.3.1"
edition = "2021"

[dependencies]
tokio = { version = "1.35", features = ["full"] }
serde = { version = "1.0", features = ["derive"] }

cargo build --release takes 4m 12s on CI. Any tips? main.rs and lib.rs are small.""",
    # ---------------------------------------------------------------------------------- SQL
    """Query is slow:

SELECT o.order_id, o.created_at, SUM(li.qty * li.unit_price) AS total
FROM orders o
JOIN line_items li ON li.order_id = o.order_id
WHERE o.created_at >= NOW() - INTERVAL '30 days'
GROUP BY o.order_id, o.created_at
ORDER BY total DESC
LIMIT 50;

EXPLAIN ANALYZE shows a Seq Scan on line_items (cost=0.00..18334.00 rows=1000000). Which index?""",
    """Postgres migration:

ALTER TABLE products ADD COLUMN warehouse_id bigint;
CREATE INDEX CONCURRENTLY idx_products_warehouse_id ON products (warehouse_id);
UPDATE products SET warehouse_id = 1 WHERE warehouse_id IS NULL;
ALTER TABLE products ALTER COLUMN warehouse_id SET NOT NULL;

The UPDATE locked the table for 6 minutes. How to batch it?""",
    """ERROR:  duplicate key value violates unique constraint "inventory_pkey"
DETAIL:  Key (product_id, location_id)=(1042, 7) already exists.
CONTEXT:  SQL statement "INSERT INTO inventory (product_id, location_id, qty) VALUES ($1, $2, $3)"

I want an upsert instead. Postgres 15.""",
    """MySQL says:

mysql> SELECT COUNT(*) FROM events WHERE event_type = 'login' AND ts BETWEEN '2023-01-01' AND '2023-12-31';
+----------+
| COUNT(*) |
+----------+
|  4821933 |
+----------+
1 row in set (12.84 sec)

Partition by month or add a composite index on (event_type, ts)?""",
    """Window function help:

SELECT region_code,
       sku,
       revenue,
       RANK() OVER (PARTITION BY region_code ORDER BY revenue DESC) AS rnk
FROM monthly_sales
WHERE month = DATE_TRUNC('month', CURRENT_DATE)
QUALIFY rnk <= 3;

Snowflake accepts QUALIFY but Postgres does not. Rewrite for Postgres?""",
    # ---------------------------------------------------------------------------- Kubernetes
    """kubectl get pods -n payments
NAME                              READY   STATUS             RESTARTS        AGE
api-7d9f8b6c5d-2xkqp              1/1     Running            0               5d
api-7d9f8b6c5d-9wvtz              0/1     CrashLoopBackOff   37 (2m ago)     3h
worker-5f6d7c8b9-lm4np            1/1     Running            2 (12h ago)     12h
migrate-28412345-7qz9x            0/1     ImagePullBackOff   0               14m

Why is the api pod in CrashLoopBackOff?""",
    """kubectl describe pod api-7d9f8b6c5d-9wvtz:

    Limits:
      cpu:     500m
      memory:  512Mi
    Requests:
      cpu:        250m
      memory:     256Mi
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
Events:
  Type     Reason     Age                  From     Message
  ----     ------     ----                 ----     -------
  Warning  BackOff    2m (x37 over 3h)     kubelet  Back-off restarting failed container""",
    """deployment.yaml:

apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  labels:
    app: checkout
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: checkout
          image: registry.local/checkout:1.8.2
          resources:
            limits: { cpu: "1", memory: 1Gi }
          readinessProbe:
            httpGet: { path: /ready, port: 8080 }
            periodSeconds: 10
            timeoutSeconds: 2""",
    """kubectl top nodes
NAME            CPU(cores)   CPU%   MEMORY(bytes)   MEMORY%
node-pool-a-1   1840m        46%    11Gi            72%
node-pool-a-2   920m         23%    6534Mi          42%
node-pool-b-1   3650m        91%    14Gi            93%

node-pool-b-1 is almost full. Should I add a PodDisruptionBudget before draining it?""",
    """Helm upgrade fails:

Error: UPGRADE FAILED: cannot patch "checkout" with kind Deployment: Deployment.apps "checkout" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"checkout", "tier":"web"}}: field is immutable

helm version: v3.14.0. Chart version 0.9.3 -> 0.10.0.""",
    """kubectl get events --sort-by=.lastTimestamp
LAST SEEN   TYPE      REASON             OBJECT                        MESSAGE
47s         Normal    Scheduled          pod/batch-job-8xk2p           Successfully assigned jobs/batch-job-8xk2p to node-pool-a-2
45s         Normal    Pulling            pod/batch-job-8xk2p           Pulling image "busybox:1.36"
12s         Warning   FailedScheduling   pod/batch-job-9plm3           0/3 nodes are available: 3 Insufficient memory.
5m          Normal    ScalingReplicaSet  deployment/api                Scaled up replica set api-7d9f8b6c5d to 4""",
    # ---------------------------------------------------------------------------------- logs
    """Our service logs this every few minutes:

2024-03-12T14:22:01.532Z INFO  [http] GET /api/v2/orders 200 in 84ms
2024-03-12T14:22:01.910Z WARN  [pool] connection pool exhausted, waiting 250ms
2024-03-12T14:22:02.163Z ERROR [http] POST /api/v2/orders 503 in 30012ms: upstream timeout after 30s
2024-03-12T14:22:05.004Z INFO  [pool] pool size 20, idle 0, waiting 14

Is 20 connections too few?""",
    """nginx error.log:

2024/05/02 09:14:33 [error] 1234#1234: *5678 upstream timed out (110: Connection timed out) while reading response header from upstream, request: "GET /reports/export HTTP/1.1", host: "reports.internal"
2024/05/02 09:14:35 [warn] 1234#1234: *5690 an upstream response is buffered to a temporary file

proxy_read_timeout is 60s. Raise it or stream the export?""",
    """journalctl -u backup.service --since today
May 02 03:00:01 host systemd[1]: Starting Nightly backup...
May 02 03:00:02 host backup.sh[8812]: dumping database (pg_dump -Fc)
May 02 03:41:17 host backup.sh[8812]: upload finished: 18.2 GiB in 41m15s
May 02 03:41:17 host systemd[1]: backup.service: Deactivated successfully.
May 02 03:41:17 host systemd[1]: Finished Nightly backup.

How do I alert if it takes longer than 1h?""",
    """Java stack trace:

Exception in thread "main" java.lang.NullPointerException: Cannot invoke "com.shop.model.Cart.getItems()" because "cart" is null
	at com.shop.service.CheckoutService.total(CheckoutService.java:58)
	at com.shop.service.CheckoutService.checkout(CheckoutService.java:31)
	at com.shop.Main.main(Main.java:12)

CheckoutService.total is called right after loadCart(sessionId).""",
    """Spring Boot startup log:

  .   ____          _            __ _ _
 /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\
( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\
 :: Spring Boot ::                (v3.2.2)

INFO 1 --- [main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat initialized with port 8080 (http)
WARN 1 --- [main] o.h.e.j.e.i.JdbcEnvironmentInitiator     : HHH000342: Could not obtain connection to query metadata
INFO 1 --- [main] com.shop.Application                    : Started Application in 7.412 seconds (process running for 8.1)""",
    """Redis slowlog:

cache:6379> SLOWLOG GET 2
1) 1) (integer) 14
   2) (integer) 1709650921
   3) (integer) 48211
   4) 1) "KEYS"
      2) "session:*"
2) 1) (integer) 13
   2) (integer) 1709650902
   3) (integer) 12007
   4) 1) "HGETALL"
      2) "cart:items"

KEYS takes 48ms. What should I use instead?""",
    # --------------------------------------------------------------------- Docker and CI
    """Dockerfile:

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml poetry.lock ./
RUN pip install --no-cache-dir poetry==1.7.1 && poetry export -o requirements.txt
COPY . .
RUN pip wheel -r requirements.txt -w /wheels

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*
CMD ["gunicorn", "app.main:app", "-w", "4", "-k", "uvicorn.workers.UvicornWorker"]

The image is 1.2GB. How do I shrink it?""",
    """docker compose up fails:

[+] Running 2/3
 ✔ Network shop_default  Created                                   0.1s
 ✔ Container shop-db-1   Started                                   0.6s
 ✘ Container shop-api-1  Error                                     10.3s
dependency failed to start: container shop-db-1 is unhealthy

healthcheck: test: ["CMD", "pg_isready", "-U", "postgres"], interval: 5s, retries: 5""",
    """GitHub Actions workflow:

name: ci
on:
  push:
    branches: [main]
  pull_request:
jobs:
  test:
    runs-on: ubuntu-22.04
    timeout-minutes: 20
    strategy:
      matrix:
        python: ["3.10", "3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - run: pip install -e .[test] && pytest -q

The 3.10 job fails with "match statement requires Python 3.10+"?""",
    """.gitlab-ci.yml:

stages: [build, test, deploy]

build:
  stage: build
  image: docker:24.0
  script:
    - docker build -t $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA .
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"

deploy:
  stage: deploy
  when: manual
  script: ./scripts/deploy.sh production

deploy.sh exits 126 in the runner.""",
    """Makefile:

.PHONY: test lint build
PY ?= python3.12

test:
	$(PY) -m pytest -q -x --timeout=60

lint:
	ruff check . && mypy src

build: lint test
	$(PY) -m build --wheel

make: *** No rule to make target 'dist/app-1.4.0-py3-none-any.whl'.  Stop.""",
    # ------------------------------------------------------------------ shell and configs
    """$ df -h /var/lib/docker
Filesystem      Size  Used Avail Use% Mounted on
/dev/nvme0n1p1  100G   97G  3.0G  98% /
$ docker system df
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          143       12        61.3GB    55.8GB (91%)
Build Cache     412       0         22.4GB    22.4GB

Is `docker system prune -a` safe on a build agent?""",
    """bash script:

#!/usr/bin/env bash
set -euo pipefail
for f in logs/*.log; do
  gzip -9 "$f"
done
find logs -name '*.gz' -mtime +14 -delete
echo "rotated $(ls logs/*.gz | wc -l) files"

With `set -u` it fails when logs/ is empty. Fix?""",
    """$ git rebase -i HEAD~3
error: could not apply 4f2a9c1... Add retry to upload client
hint: Resolve all conflicts manually, mark them as resolved with
hint: "git add/rm <conflicted_files>", then run "git rebase --continue".
CONFLICT (content): Merge conflict in src/upload/client.py

How do I keep my version of client.py for the whole rebase?""",
    """nginx.conf:

upstream api {
    server api-1:8000 max_fails=3 fail_timeout=30s;
    server api-2:8000 max_fails=3 fail_timeout=30s;
    keepalive 32;
}
server {
    listen 443 ssl http2;
    client_max_body_size 25m;
    location /api/ {
        proxy_pass http://api;
        proxy_read_timeout 120s;
    }
}

Uploads over 25m get 413, as expected, but some under 10m too.""",
    """config.toml:

[server]
port = 8443
read_timeout = "15s"
write_timeout = "15s"
idle_timeout = "2m"

[cache]
ttl = "10m"
max_entries = 50_000

[retry]
attempts = 5
backoff = "250ms"
max_backoff = "8s"

Is an exponential backoff from 250ms to 8s with 5 attempts enough for a flaky upstream?""",
    """crontab -l
*/15 * * * * /opt/jobs/sync_inventory.sh >> /var/log/sync.log 2>&1
0 3 * * 1-5 /opt/jobs/report.py --since yesterday
30 2 1 * * /opt/jobs/archive.sh

The report job runs at 03:00 server time but the server is on UTC. How do I run it at 03:00 Europe time?""",
    """systemd unit:

[Unit]
Description=Queue consumer
After=network-online.target

[Service]
ExecStart=/opt/consumer/bin/consumer --prefetch 50
Restart=on-failure
RestartSec=5s
TimeoutStopSec=30
MemoryMax=768M

[Install]
WantedBy=multi-user.target

It restarts every 5 seconds in a loop. How do I add a start limit?""",
    """terraform plan output:

  # aws_s3_bucket_lifecycle_configuration.logs will be updated in-place
  ~ resource "aws_s3_bucket_lifecycle_configuration" "logs" {
      ~ rule {
          ~ expiration {
              ~ days = 30 -> 90
            }
            id     = "expire-logs"
            status = "Enabled"
        }
    }

Plan: 0 to add, 1 to change, 0 to destroy.""",
    """nginx ingress annotations:

metadata:
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: "50m"
    nginx.ingress.kubernetes.io/proxy-read-timeout: "300"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  rules:
    - http:
        paths:
          - path: /api(/|$)(.*)
            pathType: ImplementationSpecific""",
    # ------------------------------------------------------------------ math and regexes
    """Check my derivation: for f(x) = 3x^2 + 2x - 5, f'(x) = 6x + 2, so f'(x) = 0 at x = -1/3.
Then f(-1/3) = 3(1/9) - 2/3 - 5 = 1/3 - 2/3 - 5 = -16/3.
Is the minimum -16/3, and is f''(x) = 6 > 0 enough to show it is a minimum?""",
    """Big-O question: the loop does n/2 iterations, each with a binary search over a sorted array of size n,
so T(n) = (n/2) * log2(n) = O(n log n). With n = 10^6 that is about 10^7 comparisons, around 20ms.
Is my estimate right?""",
    """Compound interest: A = P(1 + r/n)^(nt). With P = 1000, r = 0.05, n = 12 and t = 10,
A = 1000 * (1 + 0.05/12)^120 ≈ 1647.01.
Why does my spreadsheet give 1628.89? The formula is =B1*(1+B2)^B3.""",
    """What does this regex match?

^(?=.*\\d)(?=.*[a-z])(?=.*[A-Z])[A-Za-z\\d@$!%*?&]{12,64}$

And why does `\\b\\d{1,2}:\\d{2}(?::\\d{2})?\\b` also match inside 123:45:67?""",
    """Probability: two dice are rolled 3 times. P(at least one double six) = 1 - (35/36)^3 ≈ 0.0810.
Simulating 1e6 trials I get 0.0807 ± 0.0003.
Is that within the expected error, given sigma = sqrt(p(1-p)/N)?""",
    # --------------------------------------------------------------------- misc technical
    """C++ linker error:

/usr/bin/ld: CMakeFiles/app.dir/src/main.cpp.o: in function `main':
main.cpp:(.text+0x2f): undefined reference to `Parser::parse(std::string const&)'
collect2: error: ld returned 1 exit status
make[2]: *** [CMakeLists.txt:14: app] Error 1

Parser is in src/parser.cpp. CMakeLists.txt has add_executable(app src/main.cpp).""",
    """Ruby on Rails migration fails:

== 20240312141500 AddIndexToOrders: migrating ===============================
-- add_index(:orders, [:status, :created_at], {:algorithm=>:concurrently})
rails aborted!
StandardError: An error has occurred, this and all later migrations canceled:
PG::ActiveSqlTransaction: ERROR:  CREATE INDEX CONCURRENTLY cannot run inside a transaction block""",
    """Kotlin coroutine:

suspend fun fetchAll(ids: List<Long>): List<Item> = coroutineScope {
    ids.chunked(50).map { chunk ->
        async(Dispatchers.IO) { api.fetchItems(chunk) }
    }.awaitAll().flatten()
}

With 10k ids this opens 200 requests at once. How to cap it at 8 in flight?""",
    """PromQL:

histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))

shows p99 = 2.4s for /export but the client sees 30s timeouts. Is rate over 5m hiding the spikes?
Scrape interval is 15s, retention 15d.""",
    """Prometheus alert rule:

groups:
  - name: api
    rules:
      - alert: HighErrorRate
        expr: sum(rate(http_requests_total{status=~"5.."}[10m])) / sum(rate(http_requests_total[10m])) > 0.05
        for: 10m
        labels:
          severity: page
        annotations:
          summary: "API error rate above 5% for 10 minutes\"""",
    """Elasticsearch query returns nothing:

GET /products/_search
{
  "query": {
    "bool": {
      "must": [{ "match": { "title": "wireless keyboard" } }],
      "filter": [{ "range": { "price": { "gte": 20, "lte": 80 } } }]
    }
  },
  "size": 25
}

The index mapping has price as a keyword field.""",
    """Vim question: in my .vimrc I have

set tabstop=4 shiftwidth=4 expandtab
autocmd FileType go setlocal noexpandtab
nnoremap <leader>f :Rg<CR>

but Makefile lines still get spaces. Which filetype does a Makefile get?""",
    """Ansible task:

- name: Install packages
  ansible.builtin.apt:
    name: "{{ item }}"
    state: present
    update_cache: true
    cache_valid_time: 3600
  loop:
    - nginx
    - postgresql-15
    - redis-server

Deprecation warning: Invoking "apt" only once while using a loop via squash_actions is deprecated.""",
    """OpenAPI snippet:

paths:
  /v1/invoices/{invoiceId}:
    get:
      operationId: getInvoice
      parameters:
        - in: path
          name: invoiceId
          required: true
          schema: { type: string, format: uuid }
      responses:
        "200": { description: OK }
        "404": { description: Not found }

Code generation names the method GetInvoiceById; can I keep getInvoice?""",
    """GraphQL resolver:

const resolvers = {
  Query: {
    product: (_, { id }, { dataSources }) => dataSources.catalog.getProduct(id),
  },
  Product: {
    reviews: (parent, { first = 10 }, ctx) => ctx.loaders.reviews.load({ productId: parent.id, first }),
  },
};

N+1 queries even with the DataLoader. What am I missing?""",
    """Benchmark results:

BenchmarkEncode/small-8         	 2847103	       421.3 ns/op	     128 B/op	       2 allocs/op
BenchmarkEncode/large-8         	   12894	     93012 ns/op	   65536 B/op	       4 allocs/op
BenchmarkDecode/small-8         	 1893442	       633.9 ns/op	     256 B/op	       5 allocs/op
PASS
ok  	example/codec	6.218s

Why does decode allocate 5 times for a small payload?""",
]

# Written after the filters were in place, to check that they carry over to shapes they were not
# built on (other languages, image references, CSV, time zones, diagnostics). What is still altered
# here is printed by the test; see its docstring for why each remaining kind is accepted.
LATER_PROMPTS: list[str] = [
    '''PHP warning after upgrading to 8.3:

Deprecated: Creation of dynamic property App\\Models\\Invoice::$total is deprecated in /var/www/app/Models/Invoice.php on line 41

class Invoice {
    public function __construct(public int $id, public array $lines = []) {}
    public function sum(): float { return array_sum(array_column($this->lines, 'amount')); }
}''',
    '''C# LINQ question:

var recent = orders
    .Where(o => o.CreatedAt > DateTime.UtcNow.AddDays(-7))
    .GroupBy(o => o.Region)
    .Select(g => new { Region = g.Key, Total = g.Sum(o => o.Amount) })
    .OrderByDescending(x => x.Total)
    .ToList();

EF Core translates AddDays fine but not the anonymous type in GroupBy. Why?''',
    '''Swift concurrency:

actor Counter {
    private var value = 0
    func increment() -> Int { value += 1; return value }
}

let counter = Counter()
Task { print(await counter.increment()) }

Warning: Passing argument of non-sendable type 'Counter' outside of main actor-isolated context.''',
    '''Elixir GenServer times out:

** (exit) exited in: GenServer.call(Inventory.Server, {:reserve, 42, 3}, 5000)
    ** (EXIT) time out
    (elixir 1.16.1) lib/gen_server.ex:1114: GenServer.call/3
    (inventory 0.4.0) lib/inventory/api.ex:18: Inventory.Api.reserve/2

The handle_call does a DB query that takes 6-8 seconds under load.''',
    '''Scheduling in Spring:

@Scheduled(cron = "0 0/15 * * * MON-FRI", zone = "UTC")
public void syncCatalog() {
    log.info("catalog sync started");
    catalogClient.fetchSince(Instant.now().minus(Duration.ofMinutes(15)));
}

It also fires on Saturday after the daylight saving change. Is the zone wrong?''',
    '''Python timing helpers:

import time
from datetime import timedelta

CACHE_TTL = timedelta(days=30)
RETRY_DELAYS = [0.5, 1, 2, 4, 8]

def wait(attempt: int) -> None:
    time.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])

Is timedelta(days=30) the same as a month for cache expiry purposes?''',
    '''JS timers:

setTimeout(() => controller.abort(), 5000);
const id = setInterval(poll, 60 * 1000);
window.addEventListener("beforeunload", () => clearInterval(id));

Why does the poll keep running in a background tab every minute instead of every 60s?''',
    '''CHANGELOG.md

## [2.1.0] - 2024-03-12
### Added
- Retry with exponential backoff for uploads
### Fixed
- Memory leak in the thumbnail worker

## [2.0.3] - 2024-02-27
### Fixed
- Crash when the config file is empty

How do I generate this from conventional commits?''',
    '''HTTP exchange:

POST /v1/exports HTTP/1.1
Host: api.internal
Content-Type: application/json
Idempotency-Key: 5f0c2e1a-8d7b-4c1e-9a55-0b7e2f3c4d61

{"format": "csv", "from": "2024-01-01", "to": "2024-01-31"}

HTTP/1.1 202 Accepted
Retry-After: 30

Should the client poll or should we send a webhook?''',
    '''PowerShell:

PS C:\\build> Get-ChildItem -Recurse -Filter *.log | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-14) } | Remove-Item
Remove-Item : Cannot remove item C:\\build\\logs\\agent.log: The process cannot access the file because it is being used by another process.

How do I skip locked files?''',
    '''LaTeX table misaligned:

\\begin{tabular}{l r r}
  \\toprule
  Model & Accuracy & Latency (ms) \\\\
  \\midrule
  Baseline & 0.812 & 14.2 \\\\
  Distilled & 0.798 & 6.1 \\\\
  \\bottomrule
\\end{tabular}

The numbers are not right-aligned on the decimal point.''',
    '''Markdown table from our benchmark:

| batch size | p50 (ms) | p99 (ms) | throughput (req/s) |
|-----------:|---------:|---------:|-------------------:|
| 1          | 3.1      | 9.8      | 310                |
| 8          | 11.4     | 27.0     | 690                |
| 32         | 40.2     | 88.5     | 790                |

Which batch size would you choose for a 50 ms latency budget?''',
    '''Android logcat:

E/AndroidRuntime: FATAL EXCEPTION: main
    Process: com.example.notes, PID: 12873
    java.lang.IllegalStateException: Fragment NoteListFragment not attached to a context.
        at androidx.fragment.app.Fragment.requireContext(Fragment.java:972)
        at com.example.notes.ui.NoteListFragment.onLoaded(NoteListFragment.kt:88)

It happens when rotating the screen during a load.''',
    '''Terraform variables:

variable "retention_days" {
  type    = number
  default = 14
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/ecs/api"
  retention_in_days = var.retention_days
}

Error: expected retention_in_days to be one of [1 3 5 7 14 30 60 90], got 45''',
    '''git log --oneline -6
a41c9e2 (HEAD -> main) Bump version to 1.9.0
7d03b18 Fix race in cache invalidation
c2e77fa Merge pull request #412 from feature/streaming
19bd5e0 Stream responses in chunks of 64 KiB
e8f4a31 Add timeout to upstream calls (30s default)
0b6d2c7 Drop support for Node 16

How do I squash the last four into one commit?''',
    '''JSON Schema:

{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "interval": { "type": "string", "pattern": "^[0-9]+(ms|s|m|h)$" },
    "startAt": { "type": "string", "format": "date-time" }
  },
  "required": ["interval"]
}

Is "90m" valid for interval? And can startAt be a date without a time?''',
    '''Haskell type error:

Main.hs:14:22: error:
    • Couldn't match expected type ‘Maybe Int’ with actual type ‘Int’
    • In the first argument of ‘fromMaybe’, namely ‘count’
      In the expression: fromMaybe 0 count
   |
14 | total = fromMaybe 0 count + length items
   |                     ^^^^^

What is the idiomatic fix?''',
    '''Webpack build:

WARNING in asset size limit: The following asset(s) exceed the recommended size limit (244 KiB).
Assets:
  main.8f3a2c.js (1.21 MiB)
  vendors.c91e0d.js (842 KiB)

webpack 5.90.3 compiled with 1 warning in 18342 ms

How do I split vendors.c91e0d.js further?''',
    '''Airflow DAG:

with DAG(
    dag_id="daily_rollup",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:
    rollup = PythonOperator(task_id="rollup", python_callable=run_rollup)

The first run happened on January 2nd, not January 1st. Is that expected?''',
    '''Units conversion in my physics homework script:

g = 9.81  # m/s^2
v0 = 20.0  # m/s
t_peak = v0 / g          # about 2.04 s
h_max = v0**2 / (2 * g)  # about 20.4 m

Why does the simulation with dt = 0.01 s give 20.3 m?''',
    '''docker pull fails:

$ docker pull ghcr.io/acme-labs/api:1.4.2
Error response from daemon: manifest unknown
$ docker pull registry.gitlab.com/platform/tools/runner@sha256:3f1c9a7e2b6d4c8e0a5b7d9f1e3c5a7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f7e9a

The tag exists in the UI. Is it a multi-arch issue?''',
    '''compose file:

services:
  db:
    image: docker.io/library/postgres:16-alpine
    environment:
      TZ: Europe/Berlin
      PGTZ: "Europe/Berlin"
  app:
    image: quay.io/example/app:2.0.1
    depends_on: [db]

Timestamps in the app are off by an hour. Which TZ setting wins?''',
    '''Installing from a fork:

pip install "git+https://github.com/example-org/parser.git@v0.9.1#egg=parser"
go get golang.org/x/tools/gopls@latest
npm install @example/ui-kit@^3.2.0

The pip install hangs at "Cloning". Proxy issue?''',
    '''Table DDL review:

CREATE TABLE customers (
    id           BIGSERIAL PRIMARY KEY,
    country_code CHAR(2)      NOT NULL,
    city         TEXT,
    timezone     TEXT         DEFAULT 'UTC',
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    deleted_at   TIMESTAMPTZ
);

Should city be normalised into its own table?''',
    '''AWS CLI output:

$ aws ec2 describe-instances --region eu-west-1 --query "Reservations[].Instances[].State.Name"
[
    "running",
    "stopped"
]
$ aws s3 ls s3://example-build-artifacts/releases/ --recursive | tail -2
2024-03-11 18:02:44   48213311 releases/app-1.9.0.tar.gz
2024-03-12 09:15:03   48299102 releases/app-1.9.1.tar.gz''',
    '''CSV import error:

sku,name,warehouse,qty,updated
A-1001,Widget,North,40,2024-03-01
A-1002,Gadget,South,0,2024-03-02
A-1003,Doohickey,East,12,not-a-date

pandas.read_csv(..., parse_dates=["updated"]) leaves the column as object dtype. Why?''',
    '''Ruby spec fails:

Failures:

  1) Cart#total applies the discount
     Failure/Error: expect(cart.total).to eq(90)

       expected: 90
            got: 100

     # ./spec/models/cart_spec.rb:23:in `block (2 levels) in <top (required)>'

Finished in 0.41 seconds (files took 1.2 seconds to load)
12 examples, 1 failure''',
    '''Kafka consumer lag:

GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG
billing         invoices        0          1840211         1840290         79
billing         invoices        1          1839977         1902455         62478
billing         invoices        2          1840102         1840102         0

Partition 1 is stuck. The consumer logs "Revoking previously assigned partitions" every 5 minutes.''',
    '''Regex for log parsing:

LINE = re.compile(
    r"(?P<ts>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}),\\d{3} "
    r"(?P<level>[A-Z]+) \\[(?P<thread>[^\\]]+)\\] (?P<msg>.*)"
)

It fails on lines like "2024-03-12 08:00:00,123 INFO [main] Started". What is wrong?''',
    '''systemctl status:

● api.service - Orders API
     Loaded: loaded (/etc/systemd/system/api.service; enabled; preset: enabled)
     Active: active (running) since Tue 2024-03-12 08:00:04 UTC; 2 days ago
   Main PID: 912 (gunicorn)
      Tasks: 9 (limit: 4613)
     Memory: 312.4M
        CPU: 1h 12min 33.517s

Memory grows by about 40M a day. Leak or cache?''',
    '''Cron expression check: "0 9 * * MON" should run every Monday at 9am in the container,
but the container clock is UTC and we want 9am Central European Time.
Do I change the cron line or set TZ in the Dockerfile?''',
    '''Excel formula:

=IF(AND(B2>=DATE(2024,1,1), B2<=EOMONTH(B2,0)), SUMIFS(D:D, A:A, A2, B:B, ">="&B2), 0)

It returns 0 for every row in March. The dates in column B are text, not numbers.''',
    '''Load test results (k6):

     http_req_duration..............: avg=182.4ms min=41.2ms med=150.1ms max=2.91s p(90)=310.6ms p(95)=402.8ms
     http_reqs......................: 48211  401.2/s
     iteration_duration.............: avg=1.18s min=1.04s med=1.15s max=3.92s
     vus............................: 500    min=500 max=500

Is p95 of 400ms acceptable for a checkout endpoint?''',
    '''Feature flag config:

flags:
  new_checkout:
    enabled: true
    rollout: 25
    regions: [DE, FR, NL]
  dark_mode:
    enabled: false

Should regions use ISO codes or full country names?''',
    '''Rust async error:

error[E0277]: `Rc<RefCell<State>>` cannot be sent between threads safely
   --> src/server.rs:41:18
    |
41  |     tokio::spawn(async move {
    |     ^^^^^^^^^^^^ `Rc<RefCell<State>>` cannot be sent between threads safely

Should I switch to Arc<Mutex<State>>?''',
    '''$ docker ps
CONTAINER ID   IMAGE            COMMAND                  CREATED        STATUS                    PORTS      NAMES
3f2a9c1d0b7e   api:1.9.1        "gunicorn app:app"       2 days ago     Up 2 days (healthy)       8000/tcp   shop-api-1
9b8c7d6e5f4a   postgres:16      "docker-entrypoint.s…"   3 weeks ago    Up 14 hours (unhealthy)   5432/tcp   shop-db-1

Why is the db unhealthy if it accepts connections?''',
    '''$ ls -l backups/
total 1843204
-rw-r--r-- 1 backup backup 943718400 Mar 11 03:41 db-2024-03-11.dump
-rw-r--r-- 1 backup backup 944113664 Mar 12 03:39 db-2024-03-12.dump

Only two files, but retention is set to 7 days. Why are older ones gone?''',
    '''$ uptime
 14:22:01 up 12 days,  3:04,  2 users,  load average: 7.81, 6.92, 5.40
$ free -h
               total        used        free      shared  buff/cache   available
Mem:            15Gi        13Gi       412Mi       1.1Gi       2.0Gi       1.3Gi
Swap:          2.0Gi       1.9Gi       100Mi

Load is high with 4 cores. Is it the swapping?''',
    '''helm list -n monitoring
NAME            NAMESPACE       REVISION        UPDATED                                 STATUS          CHART                   APP VERSION
prometheus      monitoring      14              2024-03-12 14:22:01.123456 +0000 UTC    deployed        prometheus-25.8.0       v2.48.0
grafana         monitoring      6               2024-02-27 09:10:44.654321 +0000 UTC    failed          grafana-7.3.0           10.2.2

How do I roll grafana back to revision 5?''',
    '''kubectl get jobs -n etl
NAME                   COMPLETIONS   DURATION   AGE
nightly-load-28501920  1/1           47m        9h
nightly-load-28503360  0/1           3h12m      3h12m
backfill-march         1/1           6h5m       2d

The 28503360 job is still running after 3 hours. How do I see which pod is stuck?''',
    '''$ ps aux --sort=-%mem | head -4
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
app         2211 94.1 41.3 8123456 6812344 ?    Rsl  09:14  212:40 java -Xmx6g -jar service.jar
postgres    1044  3.2  8.0 1432112 1318400 ?    Ss   Mar10   18:02 postgres: writer
root         812  0.4  0.2  231880  34120 ?     Ssl  Mar10    2:11 /usr/bin/containerd''',
    '''pip list --outdated
Package    Version Latest Type
---------- ------- ------ -----
Django     4.2.9   5.0.3  wheel
requests   2.31.0  2.31.0 wheel
urllib3    1.26.18 2.2.1  wheel

Is it safe to jump to Django 5.0 if we are on Python 3.10?''',
    '''Grafana panel shows gaps every night between 02:00 and 02:15.
The scrape config:

scrape_configs:
  - job_name: node
    scrape_interval: 30s
    scrape_timeout: 10s
    static_configs:
      - targets: ["node-exporter:9100"]

Our backup job runs from 02:00 to 02:20 and saturates the disk. Related?''',
]
