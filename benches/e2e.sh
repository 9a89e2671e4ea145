#!/usr/bin/env bash
# End-to-end throughput benchmark of issue 5; writes BENCHMARKS.md.
#
#   benches/e2e.sh [WORKDIR]      (default WORKDIR: target/bench-data, kept out of git)
#
# Generates the synthetic captures with examples/synth_mix.rs (1x: ~2.4 GB,
# 4.2 M packets, 265 k flows, 10 k open at once; 1/10 for tshark; 5x for the
# memory check, deleted afterwards), then times with hyperfine, page cache
# warm: flowaudit audit (default threads and --threads 1, and --threads 1 on
# a file with 200 flows open at once instead of 10 k), cat, tcpdump -r, flows
# and the two floors of examples/floor.rs (decoding alone; a bare flow
# table), taking turns round by round (RUNS rounds, default 10), so ratios to
# cat compare runs made moments apart; then nfpcapd, and tshark -z conv,tcp
# on the 1/10 file (scaled x10); peak memory with /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${1:-$ROOT/target/bench-data}
RUNS=${RUNS:-10}
mkdir -p "$DATA"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need hyperfine || ! need tshark || ! need tcpdump || ! need nfpcapd || [ ! -x /usr/bin/time ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q hyperfine tshark tcpdump nfdump time
fi

cargo build --release --bin flowaudit --example synth_mix --example floor --example synth_flood
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FA=$TARGET/release/flowaudit
GEN=$TARGET/release/examples/synth_mix
FLOOR=$TARGET/release/examples/floor
FLOODGEN=$TARGET/release/examples/synth_flood
F1=$DATA/mix-1.pcap
F01=$DATA/mix-0.1.pcap
F5=$DATA/mix-5.pcap
F200=$DATA/mix-1-open200.pcap
INV=$DATA/mix.toml
[ -s "$F1" ] || "$GEN" "$F1" --scale 1 --inventory "$INV"
[ -s "$F01" ] || "$GEN" "$F01" --scale 0.1 --inventory "$INV"
[ -s "$F200" ] || "$GEN" "$F200" --scale 1 --open 200
NF=$DATA/nfpcapd
mkdir -p "$NF"

AUDIT="$FA --quiet audit -i $INV --format json --fail-on never"
# label<TAB>command of every figure, for the "reproduce" column.
{
    printf 'cat\tcat %s\n' "$F1"
    printf 'audit\t%s %s\n' "$AUDIT" "$F1"
    printf 'audit-threads-1\t%s --quiet audit --threads 1 -i %s --format json --fail-on never %s\n' "$FA" "$INV" "$F1"
    printf 'tcpdump\ttcpdump -r %s -w /dev/null\n' "$F1"
    printf 'audit-threads-1-open200\t%s --quiet audit --threads 1 -i %s --format json --fail-on never %s\n' "$FA" "$INV" "$F200"
    printf 'audit-open200\t%s %s\n' "$AUDIT" "$F200"
    printf 'floor-decode\t%s --decode-only %s\n' "$FLOOR" "$F1"
    printf 'floor-table\t%s %s\n' "$FLOOR" "$F1"
    printf 'nfpcapd\tnfpcapd -r %s -w %s\n' "$F1" "$NF"
    printf 'flows-jsonl\t%s --quiet flows --format jsonl %s\n' "$FA" "$F1"
    printf 'cat-0.1\tcat %s\n' "$F01"
    printf 'audit-0.1\t%s %s\n' "$AUDIT" "$F01"
    printf 'tshark-0.1\ttshark -q -z conv,tcp -r %s\n' "$F01"
    printf 'stdin-0.1\t%s - < %s\n' "$AUDIT" "$F01"
    printf 'gzip-0.1\t%s %s\n' "$AUDIT" "$DATA/mix-0.1.pcap.gz"
} > "$DATA/commands.tsv"
cat "$F1" "$F01" "$F200" > /dev/null # warm the page cache

# The commands take turns: each round runs every one of them once, so a
# ratio to cat compares runs made moments apart (this host's speed drifts
# by tens of % over minutes; hyperfine alone would run all of one command's
# runs before the next command's).
rm -f "$DATA"/round-*.json
for i in $(seq 0 "$RUNS"); do
    # Round 0 warms up and is not counted.
    hyperfine --runs 1 --export-json "$DATA/round-$i.json" \
        -n cat "cat $F1" \
        -n audit "$AUDIT $F1" \
        -n audit-threads-1 "$FA --quiet audit --threads 1 -i $INV --format json --fail-on never $F1" \
        -n tcpdump "tcpdump -r $F1 -w /dev/null" \
        -n audit-threads-1-open200 "$FA --quiet audit --threads 1 -i $INV --format json --fail-on never $F200" \
        -n audit-open200 "$AUDIT $F200" \
        -n flows-jsonl "$FA --quiet flows --format jsonl $F1" \
        -n floor-decode "$FLOOR --decode-only $F1" \
        -n floor-table "$FLOOR $F1" \
        --output=null --style none
done
python3 - "$DATA" "$RUNS" <<'EOF2'
import json, os, statistics, sys
data, runs = sys.argv[1], int(sys.argv[2])
rounds = [{r["command"]: r["times"][0] for r in json.load(open(os.path.join(data, f"round-{i}.json")))["results"]}
          for i in range(1, runs + 1)]
results = []
for name in rounds[0]:
    times = [r[name] for r in rounds]
    ratios = [r[name] / r["cat"] for r in rounds]
    results.append({"command": name, "times": times, "median": statistics.median(times),
                    "ratio": statistics.median(ratios)})
json.dump({"results": results}, open(os.path.join(data, "main.json"), "w"))
EOF2
# nfpcapd takes tens of seconds (much of it waiting): two runs.
hyperfine --runs 2 --export-json "$DATA/nf.json" \
    -n nfpcapd "rm -rf $NF/*; nfpcapd -r $F1 -w $NF" \
    --output=null
hyperfine --warmup 1 --runs 3 --export-json "$DATA/small.json" \
    -n cat-0.1 "cat $F01" \
    -n audit-0.1 "$AUDIT $F01" \
    -n tshark-0.1 "tshark -q -z conv,tcp -r $F01" \
    --output=null
gzip -1 -c "$F01" > "$DATA/mix-0.1.pcap.gz"
hyperfine --warmup 1 --runs 3 --export-json "$DATA/seq.json" \
    -n stdin-0.1 "$AUDIT - < $F01" \
    -n gzip-0.1 "$AUDIT $DATA/mix-0.1.pcap.gz" \
    --output=null

peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
MEM1=$(peak $AUDIT "$F1")
MEM1T=$(peak "$FA" --quiet audit --threads 1 -i "$INV" --format json --fail-on never "$F1")
MEMTS=$(peak tshark -q -z conv,tcp -r "$F01")
"$GEN" "$F5" --scale 5 --inventory "$INV"
SIZE5=$(stat -c %s "$F5")
MEM5=$(peak $AUDIT "$F5")
rm -f "$F5"

python3 - "$DATA" "$MEM1" "$MEM1T" "$MEM5" "$MEMTS" "$SIZE5" "$F1" <<'EOF' > BENCHMARKS.md
import json, os, subprocess, sys
data, mem1, mem1t, mem5, memts, size5, f1 = sys.argv[1:]
cmds = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(data, "commands.tsv")))
def cmd(label):
    return "`" + cmds[label].replace(data, "DATA").replace(os.getcwd() + "/", "") + "`"
def load(name):
    return {r["command"]: r for r in json.load(open(os.path.join(data, name)))["results"]}
main, small, seq = load("main.json"), load("small.json"), load("seq.json")
main.update(load("nf.json"))
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
mem = sh("free -g | awk '/Mem:/ {print $2}'")
size1 = os.path.getsize(f1)
cat = main["cat"]["median"]
cat01 = small["cat-0.1"]["median"]
print("# Benchmarks\n")
print("Generated by `benches/e2e.sh` (do not edit by hand; rerun it).\n")
print(f"Machine: {sh('nproc')} cores ({cpu}), {mem} GB memory, {sh('uname -sr')}; "
      "page cache warm; shared with other jobs, so expect a few % of noise.\n")
print(f"Capture: `cargo run --release --example synth_mix -- mix-1.pcap --scale 1 --inventory mix.toml`: "
      f"{size1/1e9:.2f} GB, 4.23 M packets over 1057 s, 265 k flows, 10 k open at once, 10 % IPv6, 8 % VLAN; "
      "inventory from the same command. DATA is the work directory given to the script; the flowaudit binary is the release build the script makes.\n")
print(f"The commands of this table took turns, {len(main['cat']['times'])} rounds of one run each (after a warm-up round): "
      "each time is the median (fastest in brackets), each ratio the median of the rounds' ratios to that round's cat.\n")
print("| command | median (s) | vs cat | reproduce |")
print("| --- | ---: | ---: | --- |")
rows = [(k, r, r.get("ratio", r["median"] / cat)) for k, r in main.items()]
ts = small["tshark-0.1"]["median"] * 10
for k, r, ratio in rows:
    print(f"| {k} | {r['median']:.3f} ({min(r['times']):.3f}) | {ratio:.2f}x | {cmd(k)} |")
print(f"| tshark -z conv,tcp (1/10 file x10) | {ts:.1f} | {ts/cat:.1f}x | {cmd('tshark-0.1')} |")
print()
print("The two `floor` rows (examples/floor.rs, one thread) put the targets in proportion: "
      "`floor-decode` is flowaudit's reader and decoder alone, `floor-table` adds the least a flow "
      "table can do (a foldhash map from the 5-tuple to packet and byte counters, flows idle for 60 s "
      "swept out every 10 s of capture time; no Zeek states, history, learning or audit). The two `open200` rows audit a capture "
      "with the same flows, packets and rate but 200 flows open at once instead of 10 000 "
      "(`synth_mix --open 200`): the difference is what the tracker pays because its open "
      "connections outgrow the CPU caches, and what is left is the audit's time with its "
      "connection state in the caches.\n")
a, a1 = main["audit"]["median"], main["audit-threads-1"]["median"]
ra, ra1 = main["audit"]["ratio"], main["audit-threads-1"]["ratio"]
print("Targets (issue 5):\n")
print(f"- audit, default threads: {ra:.2f}x cat (target 2.0x): {'met' if ra <= 2 else 'NOT met'}")
print(f"- audit --threads 1: {ra1:.2f}x cat (target 3.5x): {'met' if ra1 <= 3.5 else 'NOT met'}")
print(f"- vs tshark: {ts/a:.0f}x faster (target 50x): {'met' if ts/a >= 50 else 'NOT met'}")
print(f"- vs nfpcapd: {main['nfpcapd']['median']/a:.2f}x faster (target > 1): {'met' if a < main['nfpcapd']['median'] else 'NOT met'}")
m1, m5 = int(mem1) / 1024, int(mem5) / 1024
print(f"- peak memory 1x: {m1:.0f} MB (target 150 MB): {'met' if m1 <= 150 else 'NOT met'}; "
      f"5x file ({int(size5)/1e9:.1f} GB): {m5:.0f} MB, {100*(m5/m1-1):+.1f} % (target within 10 %)\n")
print("Memory (`/usr/bin/time -v`, maximum resident set):\n")
print("| run | peak RSS (MB) |")
print("| --- | ---: |")
print(f"| audit, 1x file | {m1:.0f} |")
print(f"| audit --threads 1, 1x file | {int(mem1t)/1024:.0f} |")
print(f"| audit, 5x file (same concurrency) | {m5:.0f} |")
print(f"| tshark -z conv,tcp, 1/10 file | {int(memts)/1024:.0f} |")
print()
print("Sequential inputs (1/10 file, 239 MB; stdin and gzip are read on the reader thread, no seeking):\n")
print("| input | median (s) | MB/s | reproduce |")
print("| --- | ---: | ---: | --- |")
print(f"| file (cat: {cat01:.3f} s) | {small['audit-0.1']['median']:.3f} | {239/small['audit-0.1']['median']:.0f} | {cmd('audit-0.1')} |")
for k, r in seq.items():
    print(f"| {k} | {r['median']:.3f} | {239/r['median']:.0f} | {cmd(k)} |")
EOF

# Issue 16: realistic captures. Many host pairs (synth_mix --spread, an
# inventory of every host and one missing half the azure servers), no
# inventory on the benchmark capture, and a 3 M SYN flood; in alternating
# rounds as above, then peak memory (the spread capture also at 5x).
FS1=$DATA/spread-1.pcap
FS5=$DATA/spread-5.pcap
FFL=$DATA/flood-3m.pcap
SINV=$DATA/spread.toml
SHALF=$DATA/spread-half.toml
FINV=$DATA/flood.toml
[ -s "$FS1" ] || "$GEN" "$FS1" --scale 1 --spread --inventory "$SINV" --half-inventory "$SHALF"
[ -s "$FFL" ] || "$FLOODGEN" "$FFL" --inventory "$FINV"
A16="$FA --quiet audit --format json --fail-on never"
{
    printf 'cat-spread\tcat %s\n' "$FS1"
    printf 'audit-spread\t%s -i %s %s\n' "$A16" "$SINV" "$FS1"
    printf 'audit-spread-half\t%s -i %s %s\n' "$A16" "$SHALF" "$FS1"
    printf 'audit-noinv\t%s %s\n' "$A16" "$F1"
    printf 'audit-inv\t%s -i %s %s\n' "$A16" "$INV" "$F1"
    printf 'audit-flood\t%s -i %s %s\n' "$A16" "$FINV" "$FFL"
} > "$DATA/commands16.tsv"
cat "$FS1" "$FFL" > /dev/null
RUNS16=${RUNS16:-5}
rm -f "$DATA"/round16-*.json
for i in $(seq 0 "$RUNS16"); do
    hyperfine --runs 1 --export-json "$DATA/round16-$i.json" \
        -n cat-spread "cat $FS1" \
        -n audit-spread "$A16 -i $SINV $FS1" \
        -n audit-spread-half "$A16 -i $SHALF $FS1" \
        -n audit-noinv "$A16 $F1" \
        -n audit-inv "$A16 -i $INV $F1" \
        -n audit-flood "$A16 -i $FINV $FFL" \
        --output=null --style none
done
MS1=$(peak $A16 -i "$SINV" "$FS1")
MSH=$(peak $A16 -i "$SHALF" "$FS1")
MNI=$(peak $A16 "$F1")
MFL=$(peak $A16 -i "$FINV" "$FFL")
# No inventory on the flood: 3 M finished connections, held (packed) or,
# past audit::MAX_HELD, read a second time, which the CLI's note says.
MFN=$(peak $A16 "$FFL")
TWICE=$("$FA" audit --format json --fail-on never "$FFL" 2>&1 >/dev/null | grep -c "read twice" || true)
"$GEN" "$FS5" --scale 5 --spread
MS5=$(peak $A16 -i "$SINV" "$FS5")
rm -f "$FS5"
SIZES=""
for f in json html table markdown csv firewall-csv firewall-ps1; do
    SIZES="$SIZES $f=$($FA --quiet audit -i "$SINV" --format "$f" --fail-on never "$FS1" | wc -c)"
done
FSIZE=$($A16 -i "$FINV" "$FFL" | wc -c)
python3 - "$DATA" "$RUNS16" "$MS1" "$MSH" "$MNI" "$MFL" "$MS5" "$FSIZE" "$SIZES" "$MFN" "$TWICE" <<'EOF16' >> BENCHMARKS.md
import json, os, statistics, sys
data, runs, ms1, msh, mni, mfl, ms5, fsize, sizes, mfn, twice = sys.argv[1:]
runs = int(runs)
cmds = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(data, "commands16.tsv")))
def cmd(label):
    return "`" + cmds[label].replace(data, "DATA").replace(os.getcwd() + "/", "") + "`"
rounds = [{r["command"]: r["times"][0] for r in json.load(open(os.path.join(data, f"round16-{i}.json")))["results"]}
          for i in range(1, runs + 1)]
med = lambda f: statistics.median(f(r) for r in rounds)
mb = lambda kb: int(kb) / 1024
print("## Realistic captures (issue 16)\n")
print("Many host pairs: `cargo run --release --example synth_mix -- spread-1.pcap --scale 1 --spread "
      "--inventory spread.toml --half-inventory spread-half.toml` (the same flows, 2,000 clients, 5,000 "
      "azure servers, 5,000 hosts of no role; the half inventory lists 2,046 of the azure servers). "
      "Flood: `cargo run --release --example synth_flood -- flood-3m.pcap --inventory flood.toml` "
      "(3 M SYNs from random sources to random ports of a DC, never answered). "
      f"{runs} alternating rounds after a warm-up; times are medians, ratios the medians of each round's ratio.\n")
print("| command | median (s) | ratio | reproduce |")
print("| --- | ---: | ---: | --- |")
for k, base, what in [("cat-spread", None, ""), ("audit-spread", "cat-spread", "vs cat"),
                      ("audit-spread-half", "cat-spread", "vs cat"), ("audit-inv", None, ""),
                      ("audit-noinv", "audit-inv", "vs audit-inv"), ("audit-flood", None, "")]:
    t = med(lambda r: r[k])
    ratio = f"{med(lambda r: r[k] / r[base]):.2f}x {what}" if base else ""
    print(f"| {k} | {t:.3f} | {ratio} | {cmd(k)} |")
print()
rs = med(lambda r: r["audit-spread"] / r["cat-spread"])
rh = med(lambda r: r["audit-spread-half"] / r["cat-spread"])
rn = med(lambda r: r["audit-noinv"] / r["audit-inv"])
# Per packet: the flood's 3 M packets against the benchmark capture's 4.23 M.
rf = med(lambda r: (r["audit-flood"] / 3.0e6) / (r["audit-inv"] / 4.23e6))
m1, m5 = mb(ms1), mb(ms5)
sz = dict(x.split("=") for x in sizes.split())
big = max(int(v) for v in sz.values())
ok = lambda c: "met" if c else "NOT met"
print("Targets:\n")
print(f"- many host pairs, full inventory: {rs:.2f}x cat (target 4x): {ok(rs <= 4)}; half inventory: {rh:.2f}x: {ok(rh <= 4)}")
print(f"- many host pairs, peak memory: {m1:.0f} MB full, {mb(msh):.0f} MB half (target 150 MB): {ok(max(m1, mb(msh)) <= 150)}; "
      f"5x file: {m5:.0f} MB, {100 * (m5 / m1 - 1):+.0f} % (target within 10 %): {ok(m5 <= 1.1 * m1)}")
print(f"- many host pairs, largest report: {big / 1e6:.1f} MB (target 10 MB): {ok(big <= 10e6)} "
      f"({', '.join(f'{k} {int(v) / 1e3:.0f} kB' for k, v in sz.items())})")
print(f"- no inventory: {rn:.2f}x the audit with its inventory (target 1.5x): {ok(rn <= 1.5)}; "
      f"peak {mb(mni):.0f} MB (target 150 MB): {ok(mb(mni) <= 150)}; "
      f"3 M connections (the flood without its inventory): "
      f"{'read twice' if int(twice) else 'read once'}, peak {mb(mfn):.0f} MB (target: no second read "
      f"below 10 M connections): {ok(not int(twice))}")
print(f"- SYN flood: peak {mb(mfl):.0f} MB (target 512 MB): {ok(mb(mfl) <= 512)}; "
      f"{rf:.1f}x the time per packet of the benchmark capture (target 3x): {ok(rf <= 3)}; "
      f"JSON report {int(fsize) / 1e3:.0f} kB")
EOF16
cat BENCHMARKS.md

# Where the time goes: a perf profile of the default audit, by thread (the
# reader/decoder thread, the tracker shard threads and the classifier on the
# main thread), and of --threads 1 by function, if perf works here.
if need perf || { apt-get install -y -q linux-perf >/dev/null 2>&1 && need perf; }; then
    if perf record -q -o "$DATA/perf.data" $AUDIT "$F1" >/dev/null 2>&1 &&
        perf record -q -o "$DATA/perf1.data" "$FA" --quiet audit --threads 1 -i "$INV" --format json --fail-on never "$F1" >/dev/null 2>&1; then
        {
            echo
            echo "## Profile"
            echo
            echo "\`perf record\` of the default audit on the 1x file, CPU samples by thread (one thread"
            echo "reads, decodes and learns names; the shard threads track; the main thread classifies):"
            echo
            echo '```'
            perf report -i "$DATA/perf.data" --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed "s/^ *//"
            echo '```'
            echo
            echo "and of \`--threads 1\` by function, top entries:"
            echo
            echo '```'
            perf report -i "$DATA/perf1.data" --sort sym --percent-limit 0.8 --stdio 2>/dev/null |
                grep -E '^ +[0-9]' | sed "s/^ *//" | head -25
            echo '```'
        } >> BENCHMARKS.md
    fi
fi

# Per-stage micro-benchmarks (criterion, in memory, 108 k packets, 20 k connections).
if cargo bench --bench stages -- --warm-up-time 1 --measurement-time 3 > "$DATA/criterion.log" 2>&1; then
    {
        echo
        echo "## Micro-benchmarks"
        echo
        echo "\`cargo bench --bench stages\` (benches/stages.rs; in memory, 108 k packets of the same mix, 20 k connections):"
        echo
        echo '```'
        # Names and figures; criterion's comparison with an earlier run is left out.
        awk '/change:/ {skip = 2; next} skip > 0 {skip--; next} /^per |time:|thrpt:/' "$DATA/criterion.log"
        echo '```'
    } >> BENCHMARKS.md
fi
