// Compares geomkit::bone_orientation with the Go reference engine, field by field, on a
// fixed set of snapshots: generated edge cases and random multi-head/GQA keys, plus any
// snapshot files (real keys) under tests/data/bo_reference/.
//
//   bo_reference_check --recorded <data dir>
//       against the engine's outputs recorded in <data dir>/outputs.jsonl (every run; no Go)
//   bo_reference_check <bo-ref binary> <work dir>
//       against the engine itself, run on each snapshot (when GEOMKIT_BO_REFERENCE_DIR
//       names the engine's sources)
//   bo_reference_check --record <bo-ref binary> <work dir> <data dir>
//       runs the engine and rewrites <data dir>/outputs.jsonl (tests/data/bo_reference/
//       regenerate.sh does this)
//   bo_reference_check --unavailable <reason>
//       the live comparison cannot run here: prints the reason and exits 77 (CTest: skipped)
//
// The generated snapshots use only mt19937_64's raw output (fixed by the C++ standard) and
// exact arithmetic (an Irwin-Hall sum for the normal draws), so every platform builds the
// same bytes and the recorded outputs stay valid. Each check: composite,
// joint_collapse_count, gqa and phase_lock_score equal; every other float within 1e-9
// relative (or 1e-12 absolute, for values that are differences of nearly equal numbers).
// float16 and bfloat16 copies of each snapshot must give geomkit results identical to the
// float run on the converted values, so the reference covers the 16-bit paths too.
#include <geomkit/bone_orientation.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

// ------------------------------------------------------------------ a tiny JSON reader
struct json {
    enum kind_t { null_v, bool_v, number_v, string_v, array_v, object_v } kind = null_v;
    double number = 0;
    bool boolean = false;
    std::string text;
    std::vector<json> items;
    std::map<std::string, json> fields;
    const json& operator[](const std::string& k) const {
        static const json none;
        auto it = fields.find(k);
        return it == fields.end() ? none : it->second;
    }
};

struct json_parser {
    const char* p;
    bool ok = true;
    void space() {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') ++p;
    }
    std::string string_body() {
        std::string s;
        ++p;  // opening quote
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) ++p;
            s += *p++;
        }
        if (*p == '"') ++p; else ok = false;
        return s;
    }
    json value() {
        space();
        json v;
        if (*p == '{') {
            v.kind = json::object_v;
            ++p;
            space();
            if (*p == '}') { ++p; return v; }
            for (;;) {
                space();
                if (*p != '"') { ok = false; return v; }
                std::string key = string_body();
                space();
                if (*p != ':') { ok = false; return v; }
                ++p;
                v.fields[key] = value();
                space();
                if (*p == ',') { ++p; continue; }
                if (*p == '}') { ++p; return v; }
                ok = false;
                return v;
            }
        }
        if (*p == '[') {
            v.kind = json::array_v;
            ++p;
            space();
            if (*p == ']') { ++p; return v; }
            for (;;) {
                v.items.push_back(value());
                space();
                if (*p == ',') { ++p; continue; }
                if (*p == ']') { ++p; return v; }
                ok = false;
                return v;
            }
        }
        if (*p == '"') {
            v.kind = json::string_v;
            v.text = string_body();
            return v;
        }
        if (std::strncmp(p, "true", 4) == 0) { v.kind = json::bool_v; v.boolean = true; p += 4; return v; }
        if (std::strncmp(p, "false", 5) == 0) { v.kind = json::bool_v; p += 5; return v; }
        if (std::strncmp(p, "null", 4) == 0) { p += 4; return v; }
        char* end = nullptr;
        v.kind = json::number_v;
        v.number = std::strtod(p, &end);  // Go prints the shortest round-trip form
        if (end == p) ok = false;
        p = end;
        return v;
    }
};

// ------------------------------------------------------------------ snapshots
struct snapshot {
    std::string name;
    int L, H, S, D;
    std::vector<float> keys;
    float& at(int l, int h, int s, int d) { return keys[((std::size_t(l) * H + h) * S + s) * D + d]; }
};

// Approximately standard normal: the sum of 12 uniforms on [0, 1) minus 6 (Irwin-Hall),
// each uniform a 53-bit integer scaled by 2^-53, so the value is exact on every platform.
struct portable_normal {
    double operator()(std::mt19937_64& gen) const {
        double sum = 0;
        for (int i = 0; i < 12; ++i) sum += double(gen() >> 11) * 0x1p-53;
        return sum - 6.0;
    }
};

snapshot make_random(const std::string& name, int L, int H, int S, int D, unsigned seed, double shared = 0.5) {
    snapshot s{name, L, H, S, D, std::vector<float>(std::size_t(L) * H * S * D)};
    std::mt19937_64 gen(seed);
    portable_normal normal;
    std::vector<double> common(static_cast<std::size_t>(D));
    for (auto& c : common) c = normal(gen);
    std::size_t i = 0;
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h)
            for (int p = 0; p < S; ++p)
                for (int d = 0; d < D; ++d, ++i) s.keys[i] = float(normal(gen) + shared * common[std::size_t(d)]);
    return s;
}

// Rows whose pairwise cosines sit within float rounding of the reference thresholds: row
// 0 is a unit axis, the others c * e0 + sqrt(1 - c^2) * e_k with c near 0.3, 0.7 and 0.5.
snapshot make_borderline(const std::string& name, int L, int H, int S, int D, unsigned seed) {
    snapshot s = make_random(name, L, H, S, D, seed, 0.0);
    std::mt19937_64 gen(seed);
    const double targets[] = {0.3, 0.7, 0.5};
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h)
            for (int p = 0; p < S; ++p) {
                for (int d = 0; d < D; ++d) s.at(l, h, p, d) = 0.0f;
                if (p == 0) {
                    s.at(l, h, p, 0) = 1.0f;
                    continue;
                }
                const double c = targets[(p + h + l) % 3] + double(int(gen() % 7) - 3) * 1e-8;
                s.at(l, h, p, 0) = float(c);
                s.at(l, h, p, 1 + (p % (D - 1))) = float(std::sqrt(1 - c * c));
            }
    return s;
}

bool write_snapshot(const snapshot& s, const std::string& path) {
    std::ofstream out(path, std::ios::binary);
    const std::int32_t hdr[4] = {s.L, s.H, s.S, s.D};
    out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    out.write(reinterpret_cast<const char*>(s.keys.data()), std::streamsize(s.keys.size() * sizeof(float)));
    return bool(out);
}

// ------------------------------------------------------------------ comparison
int failures = 0;

bool close(double ours, double ref) {
    return std::fabs(ours - ref) <= 1e-9 * std::max(std::fabs(ours), std::fabs(ref)) || std::fabs(ours - ref) <= 1e-12;
}

void expect(bool ok, const std::string& name, const std::string& what, double ours, double ref) {
    if (ok) return;
    ++failures;
    std::printf("FAIL %s: %s geomkit %.17g reference %.17g\n", name.c_str(), what.c_str(), ours, ref);
}

void compare_vector(const std::string& name, const char* field, const std::vector<double>& ours, const json& ref) {
    const std::size_t n = ref.kind == json::array_v ? ref.items.size() : 0;  // null = empty
    expect(ours.size() == n, name, std::string(field) + " length", double(ours.size()), double(n));
    for (std::size_t i = 0; i < std::min(n, ours.size()); ++i)
        expect(close(ours[i], ref.items[i].number), name, std::string(field) + "[" + std::to_string(i) + "]",
               ours[i], ref.items[i].number);
}

bool same(const geomkit::bone_orientation_result& a, const geomkit::bone_orientation_result& b) {
    return a.mean_coherence == b.mean_coherence && a.mean_cross_alignment == b.mean_cross_alignment &&
           a.mean_head_entropy == b.mean_head_entropy && a.phase_lock_score == b.phase_lock_score &&
           a.joint_collapse_count == b.joint_collapse_count && a.layer_coherence == b.layer_coherence &&
           a.layer_cross_alignment == b.layer_cross_alignment && a.gqa == b.gqa;
}

// Runs the engine on the snapshot (written to <dir>/<name>.bin) and returns its JSON line.
std::string run_reference(const snapshot& s, const std::string& binary, const std::string& dir) {
    const std::string path = dir + "/" + s.name + ".bin";
    if (!write_snapshot(s, path)) {
        ++failures;
        std::printf("FAIL %s: cannot write %s\n", s.name.c_str(), path.c_str());
        return {};
    }
    const std::string command = "\"" + binary + "\" \"" + path + "\"";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    std::string line;
    char buf[4096];
    while (pipe && std::fgets(buf, sizeof buf, pipe.get())) line += buf;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (!pipe || line.empty()) {
        ++failures;
        std::printf("FAIL %s: no output from the reference (%s)\n", s.name.c_str(), command.c_str());
    }
    return line;
}

void check(const snapshot& s, const std::string& line) {
    json_parser parser{line.c_str()};
    const json out = parser.value();
    if (!parser.ok || out.kind != json::object_v) {
        ++failures;
        std::printf("FAIL %s: no JSON object from the reference: %s\n", s.name.c_str(), line.c_str());
        return;
    }
    const json& ref = out["result"];
    const auto r = geomkit::bone_orientation(s.keys.data(), s.L, s.H, s.S, s.D);
    const std::string& n = s.name;
    expect(r.composite() == int(out["composite"].number), n, "composite", r.composite(), out["composite"].number);
    expect(double(r.joint_collapse_count) == ref["joint_collapse_count"].number, n, "joint_collapse_count",
           double(r.joint_collapse_count), ref["joint_collapse_count"].number);
    expect(r.gqa == ref["gqa"].boolean, n, "gqa", r.gqa, ref["gqa"].boolean);
    expect(r.phase_lock_score == ref["phase_lock_score"].number, n, "phase_lock_score", r.phase_lock_score,
           ref["phase_lock_score"].number);
    expect(close(r.mean_coherence, ref["mean_coherence"].number), n, "mean_coherence", r.mean_coherence,
           ref["mean_coherence"].number);
    expect(close(r.mean_cross_alignment, ref["mean_cross_alignment"].number), n, "mean_cross_alignment",
           r.mean_cross_alignment, ref["mean_cross_alignment"].number);
    expect(close(r.mean_head_entropy, ref["mean_head_entropy"].number), n, "mean_head_entropy",
           r.mean_head_entropy, ref["mean_head_entropy"].number);
    compare_vector(n, "layer_coherence", r.layer_coherence, ref["layer_coherence"]);
    compare_vector(n, "layer_cross_alignment", r.layer_cross_alignment, ref["layer_cross_alignment"]);
    const auto f = r.features();
    compare_vector(n, "features", std::vector<double>(f.begin(), f.end()), out["features"]);

    // 16-bit keys: the same values stored as float16 / bfloat16 give the float result of
    // the rounded values.
    std::vector<geomkit::float16> h(s.keys.size());
    std::vector<geomkit::bfloat16> b(s.keys.size());
    std::vector<float> hf(s.keys.size()), bf(s.keys.size());
    for (std::size_t i = 0; i < s.keys.size(); ++i) {
        h[i] = geomkit::float16::from_float(s.keys[i]);
        b[i] = geomkit::bfloat16::from_float(s.keys[i]);
        hf[i] = float(h[i]);
        bf[i] = float(b[i]);
    }
    bool finite16 = true;
    for (float v : hf) finite16 &= std::isfinite(v);
    if (finite16 && !same(geomkit::bone_orientation(h.data(), s.L, s.H, s.S, s.D),
                          geomkit::bone_orientation(hf.data(), s.L, s.H, s.S, s.D))) {
        ++failures;
        std::printf("FAIL %s: float16 keys differ from their float values\n", n.c_str());
    }
    if (!same(geomkit::bone_orientation(b.data(), s.L, s.H, s.S, s.D),
              geomkit::bone_orientation(bf.data(), s.L, s.H, s.S, s.D))) {
        ++failures;
        std::printf("FAIL %s: bfloat16 keys differ from their float values\n", n.c_str());
    }
    std::printf("%-28s L=%d H=%d S=%d D=%d composite %d (reference %d)\n", n.c_str(), s.L, s.H, s.S, s.D,
                r.composite(), int(out["composite"].number));
}

// The generated cases: edge cases (one layer, one position, no dimensions, no layers, no
// heads, zero rows/heads/layers, a collapsed layer, cosines within rounding of the
// thresholds) and random multi-head and GQA keys.
std::vector<snapshot> generated_cases() {
    std::vector<snapshot> cases;
    cases.push_back(make_random("multi_head", 6, 8, 33, 20, 1));
    cases.push_back(make_random("multi_head_h5", 5, 5, 40, 16, 2));
    cases.push_back(make_random("gqa_h4", 5, 4, 40, 16, 2));
    cases.push_back(make_random("gqa_h1", 7, 1, 90, 24, 3, 0.8));
    cases.push_back(make_random("gqa_h2_wide", 3, 2, 300, 72, 4, 0.3));
    cases.push_back(make_random("multi_head_l1", 1, 6, 20, 9, 5));
    cases.push_back(make_random("gqa_l1", 1, 2, 20, 9, 5));
    cases.push_back(make_random("multi_head_s1", 4, 8, 1, 9, 6));
    cases.push_back(make_random("gqa_s1", 4, 2, 1, 9, 6));
    cases.push_back(make_random("multi_head_d0", 4, 8, 10, 0, 7));
    cases.push_back(make_random("gqa_d0", 4, 2, 10, 0, 7));
    cases.push_back(make_random("no_layers", 0, 8, 10, 4, 8));
    cases.push_back(make_random("no_heads", 3, 0, 10, 4, 8));
    cases.push_back(make_random("multi_head_shared", 4, 16, 12, 32, 9, 3.0));
    cases.push_back(make_borderline("borderline_gqa", 4, 1, 64, 8, 10));
    cases.push_back(make_borderline("borderline_multi_head", 3, 6, 6, 8, 11));
    {
        // Zero rows, a zero head and a zero layer; a collapsed layer (identical rows) next to
        // spread ones, so position-wise smoothness drops below 0.5.
        snapshot z = make_random("zeros_multi_head", 4, 6, 16, 8, 12);
        for (int d = 0; d < 8; ++d) {
            for (int p = 0; p < 16; p += 3) z.at(0, 1, p, d) = 0.0f;
            for (int p = 0; p < 16; ++p) z.at(1, 2, p, d) = 0.0f;
            for (int h = 0; h < 6; ++h)
                for (int p = 0; p < 16; ++p) z.at(3, h, p, d) = 0.0f;
        }
        cases.push_back(z);
        snapshot g = make_random("zeros_collapse_gqa", 5, 2, 30, 8, 13, 0.0);
        for (int p = 0; p < 30; ++p)
            for (int d = 0; d < 8; ++d) {
                g.at(1, 0, p, d) = g.at(1, 0, 0, d);
                if (p % 4 == 0) g.at(2, 0, p, d) = 0.0f;
                g.at(4, 0, p, d) = 0.0f;
            }
        g.name = "zeros_collapse_gqa";
        cases.push_back(g);
    }
    for (unsigned i = 0; i < 6; ++i) {
        const int H = int(1 + 3 * i);  // 1, 4 (position-wise) and 7, 10, 13, 16 (multi-head)
        cases.push_back(make_random("random_" + std::to_string(i), int(2 + i % 3), H, int(8 + 7 * i),
                                    int(4 + 6 * i), 100 + i, 0.25 * i));
    }
    return cases;
}

// Snapshot files (the engine's format: int32 L, H, S, D, then float32 keys) in a directory.
std::vector<snapshot> file_cases(const std::string& dir) {
    std::vector<snapshot> cases;
    std::ifstream list(dir + "/snapshots.txt");
    std::string name;
    while (list >> name) {
        std::ifstream in(dir + "/" + name, std::ios::binary);
        std::int32_t hdr[4] = {0, 0, 0, 0};
        in.read(reinterpret_cast<char*>(hdr), sizeof hdr);
        snapshot s{name, hdr[0], hdr[1], hdr[2], hdr[3], {}};
        if (!in || s.L < 0 || s.H < 0 || s.S < 0 || s.D < 0 || std::size_t(s.L) * s.H * s.S * s.D > (1u << 26)) {
            ++failures;
            std::printf("FAIL %s: not a snapshot file (int32 L, H, S, D, float32 keys)\n", name.c_str());
            continue;
        }
        s.keys.resize(std::size_t(s.L) * s.H * s.S * s.D);
        in.read(reinterpret_cast<char*>(s.keys.data()), std::streamsize(s.keys.size() * sizeof(float)));
        if (!in) {
            ++failures;
            std::printf("FAIL %s: truncated snapshot file\n", name.c_str());
            continue;
        }
        cases.push_back(std::move(s));
    }
    return cases;
}

// <data dir>/outputs.jsonl: one line per case, the case name, a tab, the engine's JSON.
std::map<std::string, std::string> read_outputs(const std::string& path) {
    std::map<std::string, std::string> outputs;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        const auto tab = line.find('\t');
        if (tab != std::string::npos) outputs[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return outputs;
}

int usage() {
    std::printf("usage: bo_reference_check --recorded <data dir>\n"
                "       bo_reference_check <bo-ref binary> <work dir> [<data dir>]\n"
                "       bo_reference_check --record <bo-ref binary> <work dir> <data dir>\n"
                "       bo_reference_check --unavailable <reason>\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "--unavailable") {
        std::printf("SKIP: the live comparison with the Go engine does not run here: %s\n", args[1].c_str());
        return 77;
    }
    std::vector<snapshot> cases = generated_cases();
    if (args.size() == 2 && args[0] == "--recorded") {
        for (auto& f : file_cases(args[1])) cases.push_back(std::move(f));
        const auto outputs = read_outputs(args[1] + "/outputs.jsonl");
        if (outputs.empty()) {
            std::printf("FAIL: no recorded outputs in %s/outputs.jsonl\n", args[1].c_str());
            return 1;
        }
        for (const auto& s : cases) {
            const auto it = outputs.find(s.name);
            if (it == outputs.end()) {
                ++failures;
                std::printf("FAIL %s: no recorded output (rerun tests/data/bo_reference/regenerate.sh)\n",
                            s.name.c_str());
                continue;
            }
            check(s, it->second);
        }
        if (outputs.size() != cases.size()) {
            ++failures;
            std::printf("FAIL: %zu recorded outputs for %zu cases\n", outputs.size(), cases.size());
        }
    } else if ((args.size() == 2 || args.size() == 3) && args[0] != "--record") {
        if (args.size() == 3)
            for (auto& f : file_cases(args[2])) cases.push_back(std::move(f));
        for (const auto& s : cases) {
            const std::string line = run_reference(s, args[0], args[1]);
            if (!line.empty()) check(s, line);
        }
    } else if (args.size() == 4 && args[0] == "--record") {
        for (auto& f : file_cases(args[3])) cases.push_back(std::move(f));
        std::ofstream out(args[3] + "/outputs.jsonl");
        for (const auto& s : cases) {
            const std::string line = run_reference(s, args[1], args[2]);
            if (line.empty()) continue;
            check(s, line);
            out << s.name << '\t' << line << '\n';
        }
        if (!out) {
            std::printf("FAIL: cannot write %s/outputs.jsonl\n", args[3].c_str());
            return 1;
        }
    } else {
        return usage();
    }
    if (failures) {
        std::printf("%d mismatches\n", failures);
        return 1;
    }
    std::printf("all %zu snapshots match the Go reference\n", cases.size());
    return 0;
}
