# ruff: noqa: E501  (pasted logs and code keep their real line lengths)
"""The PII-free technical prompts of `technical.jsonl`, written by hand.

Code, stack traces, logs, Kubernetes and Docker output, configs, CLI sessions, regexes and
formulas, as developers paste them into a prompt. None holds personal data: no person's name, no
e-mail address, no phone number, no street address, no IP address of a person. Product names that
are also surnames (Jenkins, Kafka, Ansible's "Tower") are kept on purpose: they are not people.
Kept in their own module because they are data, not generator logic.
"""

PROMPTS: list[str] = [
    # --- Python ---------------------------------------------------------------------------------
    '''why does this return 405 on POST?

@app.route("/items/<int:product_id>", methods=["GET"])
def get_item(product_id: int):
    item = Item.query.get_or_404(product_id)
    return jsonify(item.to_dict())''',
    '''Refactor tasks.py so the retry logic is shared:

@celery.task(bind=True, max_retries=5, default_retry_delay=30)
def sync_inventory(self, warehouse_id):
    try:
        client.push(warehouse_id)
    except TimeoutError as exc:
        raise self.retry(exc=exc)''',
    '''Traceback (most recent call last):
  File "/srv/app/manage.py", line 22, in <module>
    main()
  File "/srv/app/.venv/lib/python3.11/site-packages/django/core/management/__init__.py", line 442, in execute_from_command_line
    utility.execute()
  File "/srv/app/.venv/lib/python3.11/site-packages/django/db/backends/utils.py", line 89, in _execute
    return self.cursor.execute(sql, params)
django.db.utils.OperationalError: no such table: orders_orderline''',
    '''what's the time complexity of this?

def merge_intervals(intervals):
    intervals.sort(key=lambda x: x[0])
    merged = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged''',
    '''pytest output, only the async tests fail:

FAILED tests/test_queue.py::test_drain_on_shutdown - RuntimeError: Event loop is closed
FAILED tests/test_queue.py::test_backpressure[128] - asyncio.TimeoutError
==== 2 failed, 214 passed, 3 skipped in 41.27s ====''',
    '''import pandas as pd

df = pd.read_parquet("sales_2024q1.parquet")
monthly = df.groupby(pd.Grouper(key="ordered_at", freq="M"))["amount_eur"].sum()
print(monthly.pct_change().round(3))

How do I make the first month show 0 instead of NaN?''',
    '''class LRUCache:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        if key not in self.data:
            return None
        self.data.move_to_end(key)
        return self.data[key]

add a put() that evicts the least recently used entry''',
    '''mypy says: error: Incompatible types in assignment (expression has type "list[str] | None", variable has type "list[str]")  [assignment]
on line 48 of src/pipeline/stages.py.
The function returns Optional.
What's the idiomatic fix?''',
    '''numpy question: A has shape (512, 3, 224, 224) and I need (512, 224, 224, 3).
np.transpose(A, (0, 2, 3, 1)) works but is it a copy?
Memory goes from 2.1 GB to 4.2 GB.''',
    '''FastAPI dependency:

async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session

@router.get("/reports/{report_id}")
async def read_report(report_id: UUID, db: AsyncSession = Depends(get_db)):
    return await crud.get_report(db, report_id)

Getting "greenlet_spawn has not been called" on the second request.''',
    # --- JavaScript / TypeScript ------------------------------------------------------------------
    '''const total = items.reduce((sum, item) => sum + item.price * item.qty, 0);
console.log(total.toFixed(2));

why do I get 0.30000000000000004 for some carts?''',
    '''TypeError: Cannot read properties of undefined (reading 'map')
    at ProductList (webpack-internal:///./src/components/ProductList.tsx:23:29)
    at renderWithHooks (react-dom.development.js:16305:18)
    at mountIndeterminateComponent (react-dom.development.js:20074:13)''',
    '''useEffect(() => {
  const id = setInterval(() => setCount(c => c + 1), 1000);
  return () => clearInterval(id);
}, []);

Is the empty dependency array correct here? eslint react-hooks/exhaustive-deps complains.''',
    '''npm ERR! code ERESOLVE
npm ERR! ERESOLVE unable to resolve dependency tree
npm ERR! Found: react@18.2.0
npm ERR! Could not resolve dependency:
npm ERR! peer react@"^17.0.0" from react-beautiful-dnd@13.1.1''',
    '''type Result<T> = { ok: true; value: T } | { ok: false; error: string };

function parsePort(input: string): Result<number> {
  const n = Number(input);
  return Number.isInteger(n) && n > 0 && n < 65536 ? { ok: true, value: n } : { ok: false, error: "bad port" };
}

write tests for this with vitest''',
    '''// tsconfig.json
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "strict": true,
    "outDir": "dist",
    "paths": { "@/*": ["./src/*"] }
  }
}
imports with @/ work in vscode but fail at runtime with ERR_MODULE_NOT_FOUND''',
    '''app.get('/api/orders/:orderId', async (req, res) => {
  const order = await db.order.findUnique({ where: { id: Number(req.params.orderId) } });
  if (!order) return res.status(404).json({ error: 'not found' });
  res.json(order);
});
how do I add rate limiting of 100 req/min per route?''',
    # --- Go ---------------------------------------------------------------------------------------
    '''func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		http.Error(w, "db unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}''',
    '''goroutine 17 [running]:
main.(*Worker).process(0xc0000a4000, {0xc000123450, 0x1f})
	/build/cmd/worker/main.go:88 +0x1a5
created by main.(*Pool).Start in goroutine 1
	/build/cmd/worker/pool.go:41 +0x85
panic: runtime error: index out of range [31] with length 31''',
    '''go test ./... -race -count=1
ok  	github.com/acme/ledger/internal/store	2.314s
--- FAIL: TestReconcile/partial_batch (0.05s)
    reconcile_test.go:112: got 41 entries, want 42
FAIL	github.com/acme/ledger/internal/reconcile	0.871s''',
    '''var ErrNotFound = errors.New("not found")

func (r *Repo) Get(ctx context.Context, id int64) (*Invoice, error) {
	row := r.db.QueryRowContext(ctx, "SELECT id, total_cents, currency FROM invoices WHERE id = $1", id)
	var inv Invoice
	if err := row.Scan(&inv.ID, &inv.TotalCents, &inv.Currency); errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &inv, nil
}
is it fine to ignore other Scan errors here?''',
    # --- SQL --------------------------------------------------------------------------------------
    '''SELECT p.product_id, p.sku, SUM(oi.quantity) AS units
FROM products p
JOIN order_items oi ON oi.product_id = p.product_id
WHERE oi.created_at >= NOW() - INTERVAL '30 days'
GROUP BY p.product_id, p.sku
ORDER BY units DESC
LIMIT 20;

this takes 14s on 40M rows, which index would help?''',
    '''EXPLAIN ANALYZE output:
Seq Scan on events  (cost=0.00..431250.00 rows=1250000 width=48) (actual time=0.021..2310.442 rows=1249873 loops=1)
  Filter: (tenant_id = 42)
  Rows Removed by Filter: 18750127
Planning Time: 0.112 ms
Execution Time: 2398.701 ms''',
    '''ALTER TABLE invoices ADD COLUMN paid_at timestamptz;
CREATE INDEX CONCURRENTLY idx_invoices_paid_at ON invoices (paid_at) WHERE paid_at IS NOT NULL;
-- ERROR:  CREATE INDEX CONCURRENTLY cannot run inside a transaction block
how do I run this in an alembic migration?''',
    '''WITH ranked AS (
  SELECT store_id, day, revenue,
         ROW_NUMBER() OVER (PARTITION BY store_id ORDER BY revenue DESC) AS rn
  FROM daily_revenue
)
SELECT store_id, day, revenue FROM ranked WHERE rn <= 3;
-- convert this to BigQuery, it says ROW_NUMBER needs an ORDER BY?''',
    # --- logs ------------------------------------------------------------------------------------
    '''2024-03-18T07:42:11.204Z INFO  http  GET /api/v2/catalog 200 34ms
2024-03-18T07:42:11.951Z INFO  http  GET /api/v2/catalog?page=2 200 41ms
2024-03-18T07:42:12.377Z WARN  cache redis latency 250ms exceeds budget 100ms
2024-03-18T07:42:13.002Z ERROR http  POST /api/v2/checkout 502 30012ms upstream timeout
why would checkout time out exactly at 30s?''',
    '''[2024-05-06 02:00:00,013] INFO - Scheduler: Running job "nightly_compaction" (scheduled at 2024-05-06 02:00:00+00:00)
[2024-05-06 03:31:27,880] INFO - Job "nightly_compaction" executed successfully, took 1h31m27s
[2024-05-07 02:00:00,009] WARNING - Run time of job "nightly_compaction" was missed by 0:00:04.117''',
    '''nginx error.log:
2024/04/02 10:15:33 [error] 29#29: *18837 upstream prematurely closed connection while reading response header from upstream, request: "GET /metrics HTTP/1.1", upstream: "http://backend/metrics"
2024/04/02 10:15:34 [warn] 29#29: *18841 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/3/00/0000000003''',
    '''level=warn ts=2024-02-11T13:05:48.117Z caller=scrape.go:1384 component="scrape manager" scrape_pool=node-exporter msg="Error on ingesting samples that are too old or are too far into the future" num_dropped=118
level=info ts=2024-02-11T13:06:00.002Z caller=compact.go:519 component=tsdb msg="write block" duration=1.482s
is num_dropped=118 something to worry about?''',
    '''Jenkins build #4312 failed:
[Pipeline] sh
+ ./gradlew test --no-daemon
> Task :core:test FAILED
142 tests completed, 2 failed, 5 skipped
FAILURE: Build failed with an exception.
Total time: 6 mins 12.4 secs''',
    '''kafka consumer lag keeps growing:
GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG
billing-events  invoices.v1     0          881223          903117          21894
billing-events  invoices.v1     1          879910          902004          22094
billing-events  invoices.v1     2          880401          880455          54
partition 0 and 1 are behind, 2 is fine. max.poll.records=500, session.timeout.ms=45000''',
    # --- Kubernetes / Docker ----------------------------------------------------------------------
    '''kubectl get pods -n payments
NAME                              READY   STATUS             RESTARTS        AGE
api-7c9d8f6b5d-2xkqp              1/1     Running            0               3d4h
api-7c9d8f6b5d-9mz4t              1/1     Running            0               3d4h
worker-5f7b9c8d47-lq8rw           0/1     CrashLoopBackOff   27 (2m ago)     1h53m
redis-0                           1/1     Running            0               12d''',
    '''resources:
  requests:
    cpu: 250m
    memory: 512Mi
  limits:
    cpu: "1"
    memory: 1Gi
The pod gets OOMKilled at around 980Mi during startup. Should I raise the limit or tune the JVM flags -Xmx768m?''',
    '''kubectl describe pod worker-5f7b9c8d47-lq8rw
Events:
  Type     Reason     Age                   From     Message
  ----     ------     ----                  ----     -------
  Normal   Pulled     12m (x27 over 1h53m)  kubelet  Container image "registry.acme.io/worker:v2.3.1" already present on machine
  Warning  BackOff    2m (x480 over 1h52m)  kubelet  Back-off restarting failed container worker in pod worker-5f7b9c8d47-lq8rw''',
    '''FROM python:3.11.7-slim AS build
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python -m compileall -q src

FROM gcr.io/distroless/python3-debian12
COPY --from=build /app /app
CMD ["/app/src/main.py"]

the final image can't find the site-packages, why?''',
    '''docker compose ps
NAME              IMAGE                 STATUS                    PORTS
shop-db-1         postgres:16.2         Up 2 hours (healthy)      5432/tcp
shop-cache-1      redis:7.2-alpine      Up 2 hours                6379/tcp
shop-web-1        shop-web:latest       Restarting (1) 8 seconds ago
shop-grafana-1    grafana/grafana:10.4  Up 2 hours                0.0.0.0:3000->3000/tcp''',
    '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    spec:
      containers:
        - name: catalog
          image: registry.acme.io/catalog:1.14.0
          readinessProbe:
            httpGet: { path: /readyz, port: 8080 }
            periodSeconds: 5
explain what maxUnavailable: 0 does during a rollout''',
    '''helm upgrade --install ingress ingress-nginx/ingress-nginx --version 4.10.0 -n ingress --create-namespace
Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress
nothing else is deploying right now.
helm history shows the last release as pending-upgrade.''',
    # --- infra / config -------------------------------------------------------------------------
    '''resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-old"
    status = "Enabled"
    expiration { days = 90 }
  }
}
terraform plan wants to replace the bucket, why?''',
    '''# prometheus alert
- alert: HighErrorRate
  expr: sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05
  for: 10m
  labels:
    severity: page
does "for: 10m" mean it must be above 5% for 10 minutes straight?''',
    '''[mysqld]
innodb_buffer_pool_size = 12G
innodb_log_file_size = 2G
max_connections = 800
slow_query_log = 1
long_query_time = 0.5
Server has 16 GB RAM, is the buffer pool too big?''',
    '''- name: install packages
  ansible.builtin.apt:
    name: [nginx, certbot, python3-certbot-nginx]
    state: present
    update_cache: true
  become: true
- name: enable site
  ansible.builtin.file:
    src: /etc/nginx/sites-available/shop.conf
    dest: /etc/nginx/sites-enabled/shop.conf
    state: link
  notify: reload nginx''',
    '''name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-22.04
    strategy:
      matrix:
        python: ["3.10", "3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: "${{ matrix.python }}" }
      - run: pip install -e .[test] && pytest -q
the 3.12 job fails with "No module named distutils"''',
    '''upstream backend {
    least_conn;
    server app1:8000 max_fails=3 fail_timeout=30s;
    server app2:8000 max_fails=3 fail_timeout=30s;
    keepalive 32;
}
server {
    listen 443 ssl http2;
    location / { proxy_pass http://backend; proxy_read_timeout 60s; }
}''',
    '''# redis.conf
maxmemory 2gb
maxmemory-policy allkeys-lru
save 900 1
appendonly yes
appendfsync everysec
With this config, how much data could I lose on a crash?''',
    # --- CLI sessions -----------------------------------------------------------------------------
    '''$ git rebase -i HEAD~4
error: could not apply 3f2a9c1... Add pagination to catalog endpoint
hint: Resolve all conflicts manually, mark them as resolved with
hint: "git add/rm <conflicted_files>", then run "git rebase --continue".
$ git status
both modified:   src/catalog/views.py''',
    '''$ df -h /var/lib/docker
Filesystem      Size  Used Avail Use% Mounted on
/dev/nvme0n1p1  100G   97G  3.0G  98% /
$ docker system df
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          143       12        61.2GB    55.8GB (91%)
Build Cache     512       0         22.4GB    22.4GB''',
    '''$ python -m pip install numpy==1.26.4
ERROR: Could not build wheels for numpy, which is required to install pyproject.toml-based projects
$ python --version
Python 3.13.0
which numpy version supports 3.13?''',
    '''$ curl -sS -o /dev/null -w "%{http_code} %{time_total}\\n" https://status.acme.io/healthz
200 0.184
$ ab -n 5000 -c 50 https://status.acme.io/healthz
Requests per second:    812.44 [#/sec] (mean)
Time per request:       61.543 [ms] (mean)
Percentage of the requests served within a certain time (ms)
  95%    140
  99%    310''',
    '''$ systemctl status celery-worker
● celery-worker.service - Celery worker
     Loaded: loaded (/etc/systemd/system/celery-worker.service; enabled)
     Active: failed (Result: exit-code) since Tue 2024-04-09 04:12:55 UTC; 6h ago
    Process: 1877 ExecStart=/srv/app/.venv/bin/celery -A proj worker -l info (code=exited, status=1/FAILURE)''',
    '''$ openssl s_client -connect api.acme.io:443 -servername api.acme.io < /dev/null 2>/dev/null | openssl x509 -noout -dates
notBefore=Feb  1 00:00:00 2024 GMT
notAfter=May  1 23:59:59 2024 GMT
how do I alert 14 days before notAfter?''',
    '''$ top -b -n1 | head -12
top - 09:14:02 up 41 days,  3:12,  1 user,  load average: 7.81, 6.95, 5.40
Tasks: 312 total,   4 running, 308 sleeping,   0 stopped,   0 zombie
%Cpu(s): 88.1 us,  6.2 sy,  0.0 ni,  4.9 id,  0.6 wa
MiB Mem :  15989.2 total,    412.7 free,  13811.4 used,   1765.1 buff/cache
    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
   2231 www-data  20   0 2912844 1.9g  12044 R 187.5  12.1 812:44.31 gunicorn''',
    # --- regexes, formulas, math ------------------------------------------------------------------
    '''Explain this regex: ^(?=.*[A-Z])(?=.*\\d)[A-Za-z\\d!@#$%^&*]{12,64}$
and why does "Abcdefghijk1" match but "abcdefghijk1" not?
I copied it from an old signup form.''',
    '''I need a regex for semantic versions like v2.3.1, 3.11.7, 1.0.0-rc.1 and 4.2.0+build.17 but not 01.2.3
Python re flavour, no lookbehind if possible.
Also: should the leading v be optional?''',
    '''Excel: =IFERROR(VLOOKUP(A2,Prices!$A$2:$C$500,3,FALSE)*B2,0)
How do I rewrite this with XLOOKUP so it also works when the SKU column moves?
The sheet has about 4,000 rows.''',
    '''Compound interest: A = P(1 + r/n)^(nt).
With P = 10000, r = 0.045, n = 12, t = 7, what is A, and how does it compare with continuous compounding A = Pe^(rt)?
Round to two decimals.''',
    '''Derive the gradient of the softmax cross-entropy loss L = -sum_i y_i log(softmax(z)_i) with respect to z, and show it simplifies to softmax(z) - y.
Use vector notation.
Then show the numerically stable version with the max subtraction.''',
    '''sed -E 's/^([0-9]{4})-([0-9]{2})-([0-9]{2})T/\\3.\\2.\\1 /' access.log | awk '{print $1, $7}' | sort | uniq -c | sort -rn | head
what does each stage do?
the log lines start with ISO timestamps like 2024-05-01T12:00:03Z''',
    '''Big-O question: a loop from 1 to n where the inner loop runs log2(i) times.
Is the total O(n log n)?
Sum of log2(i) for i=1..n = log2(n!)''',
    # --- product / architecture questions --------------------------------------------------------
    '''We run Django 4.2 with PostgreSQL 15, Redis 7 as cache and Celery for background jobs, behind nginx on two VMs.
Traffic is about 300 req/s peak.
Would moving sessions from the DB to Redis help p99 latency?''',
    '''Grafana panel shows p95 of 1.8s for the /search endpoint but p50 is 120ms.
Elasticsearch slowlog has queries with "took": 1650.
What should I look at first: shard count (we have 12 shards for 40GB) or the wildcard queries?''',
    '''Compare RabbitMQ and Kafka for an order pipeline with 2k msgs/s, at-least-once delivery, and ordering per order_id.
We already run Kafka 3.6 for analytics.
Latency target is 200ms end to end.''',
    '''Our Spring Boot 3.2 service uses HikariCP with maximumPoolSize=10.
Under load we see "Connection is not available, request timed out after 30000ms".
DB max_connections is 200 and we have 24 pods.
What's the right pool size?''',
    '''Write a Makefile target that runs ruff, mypy and pytest in that order and stops on the first failure, with a `make ci` alias.
It should work with GNU make 4.3.
The targets are lint, typecheck and test.''',
    '''What's the difference between SIGTERM and SIGKILL for a container, and how long does Kubernetes wait by default (terminationGracePeriodSeconds) before sending SIGKILL?
Our app needs about 45s to drain connections.
Where do I set preStop hooks?''',
    '''Rust: borrowed value does not live long enough

fn longest<'a>(a: &'a str, b: &'a str) -> &'a str { if a.len() > b.len() { a } else { b } }
let result;
{
    let s2 = String::from("xyz");
    result = longest("abcd", s2.as_str());
}
println!("{}", result);''',
    '''Java:
Exception in thread "main" java.util.ConcurrentModificationException
	at java.base/java.util.ArrayList$Itr.checkForComodification(ArrayList.java:1013)
	at java.base/java.util.ArrayList$Itr.next(ArrayList.java:967)
	at com.acme.inventory.Reconciler.run(Reconciler.java:57)
I'm removing items inside a for-each loop.''',
    '''C#: async void vs async Task in an ASP.NET Core controller action.
Our OrdersController.Cancel is async void and exceptions disappear.
Is that why?''',
    '''bash script:
#!/usr/bin/env bash
set -euo pipefail
for f in /data/exports/*.csv; do
  gzip -9 "$f"
done
aws s3 sync /data/exports s3://acme-exports/$(date +%F)/ --exclude "*" --include "*.gz"
It fails with "unbound variable" when the folder is empty.''',
    '''PHP 8.3 deprecation: "Creation of dynamic property App\\Models\\Cart::$discountRate is deprecated".
Laravel 10.
Where should I declare it?''',
    '''Swift: "Publishing changes from background threads is not allowed; make sure to publish values from the main thread (via operators like receive(on:)) on model updates." in my ViewModel.fetchProducts().
How do I fix it with async/await?
The method is marked @MainActor already on the view.''',
    '''Kotlin coroutine: runBlocking inside a Ktor route handler blocks the event loop, right?
What should I use instead to call the suspend function loadCatalog()?
Ktor 2.3, Netty engine.''',
    '''CSS grid: I want 3 columns on desktop, 2 under 900px and 1 under 600px, with 16px gaps, cards of equal height.
Show the grid-template-columns with auto-fill and minmax.
No JavaScript, just CSS.''',
    '''Terraform state is locked:
Error: Error acquiring the state lock
Lock Info:
  ID:        8c2f3d1a-77b4-4a1e-9d52-3f0b2c6e1a90
  Path:      acme-tfstate/prod/network.tfstate
  Operation: OperationTypeApply
  Version:   1.7.5
  Created:   2024-04-11 08:02:17.441 +0000 UTC
Is it safe to run terraform force-unlock?''',
    '''GraphQL query returns null for nested field:
query { order(id: "ord_8812") { id total lineItems { sku quantity product { title } } } }
resolver for product is async and returns a Promise; schema says Product! (non-null).''',
    '''Vite build warning: (!) Some chunks are larger than 500 kB after minification. vendor-3f9c.js is 1.4 MB.
How do I split lodash and chart.js into separate chunks with manualChunks?
We use Vite 5.2 with the React plugin.''',
    '''Benchmark results, same query on 3 engines (median of 5 runs):
engine        cold      warm
DuckDB 0.10   1.92s     0.31s
ClickHouse    0.88s     0.12s
Postgres 16   14.6s     9.70s
dataset: 120M rows, 18 columns, parquet 6.4GB. Why is Postgres warm so slow?''',
    '''The cron expression "*/15 9-17 * * 1-5" - does it run at 17:45?
And how do I express "every 90 minutes" in cron?
The server runs in UTC.''',
    '''Our p99 went from 180ms to 420ms after upgrading gunicorn from 20.1.0 to 21.2.0 with --workers 4 --threads 8 --timeout 120.
Nothing else changed.
Ideas?''',
    '''protobuf:
syntax = "proto3";
message Shipment {
  string shipment_id = 1;
  repeated Parcel parcels = 2;
  google.protobuf.Timestamp shipped_at = 3;
}
Can I rename parcels to packages without breaking old clients?''',
    '''Matplotlib: the x-axis labels overlap when plotting 365 daily points. fig.autofmt_xdate() helps a bit.
How do I show only month ticks with mdates.MonthLocator?
The dates are a pandas DatetimeIndex.''',
    '''SQLAlchemy 2.0 warning: "relationship 'Order.lines' will copy column orders.id to column order_lines.order_id, which conflicts with relationship(s): 'OrderLine.order'".
Add back_populates?
Both models are in the same module.''',
    '''WebSocket disconnects every 60s behind the load balancer.
ALB idle timeout is 60 seconds.
Server sends no pings.
Should the ping interval be 30s or should I raise the idle timeout to 3600?''',
    '''Explain the output of `vmstat 1 5`:
procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----
 r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st
 9  2 812344 203112  40212 1822108  120  340  5120  9840 8123 15234 71 14  3 12  0''',
    '''ZeroDivisionError in the metrics job:
  File "/opt/jobs/kpi.py", line 61, in conversion_rate
    return round(orders / sessions * 100, 2)
ZeroDivisionError: division by zero
happens only for new stores on day one''',
    '''I have a monorepo with packages/api, packages/web and packages/shared managed by pnpm workspaces 8.15.
Turborepo caches the build of shared but web still rebuilds every time. turbo.json pipeline: build dependsOn ["^build"], outputs ["dist/**"].
What am I missing?''',
    '''Unit conversion sanity check: a 2.5 Gbit/s link moving 1.2 TB - how long at 80% efficiency?
I get about 1h20m, is that right?
Ignore protocol overhead beyond the 80%.''',
]
