import time
from bench import s3 as b
from bench.peers import onebox
with onebox() as (e, _):
    b._client(e).create_bucket(Bucket=b.BUCKET)
    b._allow_anonymous_puts(e)
    t = time.monotonic(); b.fill_keys(e, b.LIST_KEYS); filled = time.monotonic() - t
    listed, seconds = b.list_all(e)
    print(f"ListObjectsV2 {listed} keys in {seconds:.2f} s ({listed/seconds:,.0f} keys/s); filled in {filled:.0f} s", flush=True)
    listed, seconds = b.list_all(e)
    print(f"again: {listed} keys in {seconds:.2f} s", flush=True)
