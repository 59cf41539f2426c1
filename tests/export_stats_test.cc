// Statistics for monitoring: nv_pool_stats_json / _json_to and
// nv_pool_stats_prometheus / _prometheus_to parsed back and compared with
// nv_pool_get_stats, plus the allocation-size histogram.
//
//   - a small strict JSON parser (objects, arrays, strings with every escape
//     and \u surrogate pairs, numbers, true/false/null; UTF-8 checked) reads
//     the one-line JSON; every nv_pool_stats_t field must be there under its
//     own name, exactly once, with the struct's value;
//   - the Prometheus text (exposition format 0.0.4) is read line by line:
//     HELP and TYPE once per family and before its samples, samples with
//     labels (escapes unescaped), families contiguous; every metric is
//     compared with its field, the histogram's cumulative buckets, _sum and
//     _count with size_histogram / allocated_bytes / allocations;
//   - truncation (snprintf rules), NULL pool / stream, FILE * variants,
//     pool names that need escaping, stats off, bucket boundaries,
//     nv_pool_print_stats_to's histogram lines.
#include <nv_pool.h>

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "pool_test_util.h"

namespace {

// Fragmentation is printed with 6 decimals: the text is within half a unit
// of the last place, plus the binary error of parsing it back (0.4765625
// prints as 0.476562 and parses as 0.47656199999999999).
constexpr double kSixDecimals = 5e-7 + 1e-12;

using nvtest::PoolPtr;

bool AsanBuild() {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

// ============================================================================
// A small JSON parser
// ============================================================================

struct JValue {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool boolean = false;
  std::string text;  // a string's decoded value, or a number's literal
  std::vector<JValue> items;
  std::vector<std::pair<std::string, JValue>> members;

  const JValue *Find(const std::string &key) const {
    for (const auto &m : members)
      if (m.first == key) return &m.second;
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string &text) : s_(text) {}

  // Parses the whole text as one value (surrounding whitespace allowed).
  bool ParseDocument(JValue *out) {
    SkipSpace();
    if (!ParseValue(out, 0)) return false;
    SkipSpace();
    if (i_ != s_.size()) return Fail("trailing characters");
    return true;
  }
  const std::string &error() const { return error_; }

 private:
  bool Fail(const std::string &why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(i_);
    return false;
  }
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      i_++;
  }
  bool Literal(const char *word) {
    size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return Fail(std::string("expected ") + word);
    i_ += n;
    return true;
  }

  bool ParseValue(JValue *out, int depth) {
    if (depth > 32) return Fail("nesting too deep");
    if (i_ >= s_.size()) return Fail("unexpected end");
    char c = s_[i_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      out->type = JValue::kString;
      return ParseString(&out->text);
    }
    if (c == 't' || c == 'f') {
      out->type = JValue::kBool;
      out->boolean = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      out->type = JValue::kNull;
      return Literal("null");
    }
    return ParseNumber(out);
  }

  bool ParseObject(JValue *out, int depth) {
    out->type = JValue::kObject;
    i_++;  // {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == '}') {
      i_++;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (i_ >= s_.size() || s_[i_] != '"') return Fail("expected a key");
      std::string key;
      if (!ParseString(&key)) return false;
      if (out->Find(key) != nullptr) return Fail("duplicate key " + key);
      SkipSpace();
      if (i_ >= s_.size() || s_[i_] != ':') return Fail("expected ':'");
      i_++;
      SkipSpace();
      JValue value;
      if (!ParseValue(&value, depth + 1)) return false;
      out->members.emplace_back(key, std::move(value));
      SkipSpace();
      if (i_ < s_.size() && s_[i_] == ',') {
        i_++;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        i_++;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  bool ParseArray(JValue *out, int depth) {
    out->type = JValue::kArray;
    i_++;  // [
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == ']') {
      i_++;
      return true;
    }
    for (;;) {
      SkipSpace();
      JValue value;
      if (!ParseValue(&value, depth + 1)) return false;
      out->items.push_back(std::move(value));
      SkipSpace();
      if (i_ < s_.size() && s_[i_] == ',') {
        i_++;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        i_++;
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  static void AppendUtf8(std::string *out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t *out) {
    if (i_ + 4 > s_.size()) return Fail("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
      else return Fail("bad hex digit");
    }
    *out = v;
    return true;
  }

  // Length of the valid UTF-8 sequence at i_ (RFC 3629), or 0.
  size_t Utf8Length() const {
    auto at = [this](size_t k) { return static_cast<unsigned char>(k < s_.size() ? s_[k] : 0); };
    unsigned char c = at(i_);
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3;
    else if (c >= 0xF0 && c <= 0xF4) n = 4;
    else return 0;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (at(i_ + 1) < lo || at(i_ + 1) > hi) return 0;
    for (size_t k = 2; k < n; k++)
      if ((at(i_ + k) & 0xC0) != 0x80) return 0;
    return n;
  }

  bool ParseString(std::string *out) {
    i_++;  // "
    for (;;) {
      if (i_ >= s_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        i_++;
        return true;
      }
      if (c < 0x20) return Fail("raw control character in a string");
      if (c != '\\') {
        size_t n = Utf8Length();
        if (n == 0) return Fail("invalid UTF-8 in a string");
        out->append(s_, i_, n);
        i_ += n;
        continue;
      }
      i_++;
      if (i_ >= s_.size()) return Fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (s_.compare(i_, 2, "\\u") != 0) return Fail("lone high surrogate");
            i_ += 2;
            if (!Hex4(&low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return Fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("lone low surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail(std::string("bad escape \\") + e);
      }
    }
  }

  bool ParseNumber(JValue *out) {
    size_t start = i_;
    auto digit = [this]() { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; };
    if (i_ < s_.size() && s_[i_] == '-') i_++;
    if (!digit()) return Fail("expected a value");
    if (s_[i_] == '0') {
      i_++;
    } else {
      while (digit()) i_++;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      i_++;
      if (!digit()) return Fail("digits expected after '.'");
      while (digit()) i_++;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      i_++;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) i_++;
      if (!digit()) return Fail("digits expected in an exponent");
      while (digit()) i_++;
    }
    out->type = JValue::kNumber;
    out->text = s_.substr(start, i_ - start);
    return true;
  }

  const std::string &s_;
  size_t i_ = 0;
  std::string error_;
};

// An unsigned integer literal: digits only, no sign, fraction or exponent.
bool ParseU64(const std::string &text, uint64_t *out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  if (text.size() > 1 && text[0] == '0') return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

// ---- the fields ------------------------------------------------------------

// Every nv_pool_stats_t field but fragmentation and the histogram, with its
// JSON name and its Prometheus metric (name, type).
struct Field {
  const char *json;
  const char *metric;
  const char *type;
  uint64_t (*get)(const nv_pool_stats_t &);
};

#define NV_FIELD(name, metric, type) \
  {#name, metric, type, [](const nv_pool_stats_t &s) { return static_cast<uint64_t>(s.name); }}
const Field kFields[] = {
    NV_FIELD(size, "nv_pool_size_bytes", "gauge"),
    NV_FIELD(used, "nv_pool_used_bytes", "gauge"),
    NV_FIELD(free, "nv_pool_free_bytes", "gauge"),
    NV_FIELD(peak_used, "nv_pool_peak_used_bytes", "gauge"),
    NV_FIELD(live_allocations, "nv_pool_live_allocations", "gauge"),
    NV_FIELD(blocks, "nv_pool_blocks", "gauge"),
    NV_FIELD(large_allocations, "nv_pool_large_allocations", "gauge"),
    NV_FIELD(overhead, "nv_pool_overhead_bytes", "gauge"),
    NV_FIELD(allocations, "nv_pool_allocations_total", "counter"),
    NV_FIELD(frees, "nv_pool_frees_total", "counter"),
    NV_FIELD(reallocations, "nv_pool_reallocations_total", "counter"),
    NV_FIELD(resets, "nv_pool_resets_total", "counter"),
    NV_FIELD(failed_allocations, "nv_pool_failed_allocations_total", "counter"),
    // allocated_bytes has no metric of its own: it is the histogram's _sum.
    NV_FIELD(allocated_bytes, nullptr, nullptr),
};
#undef NV_FIELD

constexpr char kFragmentationMetric[] = "nv_pool_fragmentation_ratio";
constexpr char kHistogramMetric[] = "nv_pool_allocation_size_bytes";

std::string JsonOf(nv_pool_t *pool) {
  size_t n = nv_pool_stats_json(pool, nullptr, 0);
  std::string text(n + 1, '\0');
  EXPECT_EQ(nv_pool_stats_json(pool, &text[0], text.size()), n);
  text.resize(n);
  return text;
}

std::string PrometheusOf(nv_pool_t *pool) {
  size_t n = nv_pool_stats_prometheus(pool, nullptr, 0);
  std::string text(n + 1, '\0');
  EXPECT_EQ(nv_pool_stats_prometheus(pool, &text[0], text.size()), n);
  text.resize(n);
  return text;
}

// Parses `text` as the JSON export and compares every field with `s`.
void ExpectJsonMatches(const std::string &text, const nv_pool_stats_t &s,
                       const std::string &name) {
  SCOPED_TRACE(text);
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n') << "one line, ending in a newline";
  ASSERT_EQ(text.find('\n'), text.size() - 1) << "exactly one line";
  JValue doc;
  JsonParser parser(text);
  ASSERT_TRUE(parser.ParseDocument(&doc)) << parser.error();
  ASSERT_EQ(doc.type, JValue::kObject);

  std::set<std::string> expected_keys = {"pool", "fragmentation", "size_histogram"};
  for (const Field &f : kFields) expected_keys.insert(f.json);
  std::set<std::string> keys;
  for (const auto &m : doc.members) keys.insert(m.first);
  EXPECT_EQ(keys, expected_keys);

  const JValue *pool = doc.Find("pool");
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->type, JValue::kString);
  EXPECT_EQ(pool->text, name);

  for (const Field &f : kFields) {
    const JValue *v = doc.Find(f.json);
    ASSERT_NE(v, nullptr) << f.json;
    ASSERT_EQ(v->type, JValue::kNumber) << f.json;
    uint64_t got = 0;
    ASSERT_TRUE(ParseU64(v->text, &got)) << f.json << " = " << v->text;
    EXPECT_EQ(got, f.get(s)) << f.json;
  }
  const JValue *frag = doc.Find("fragmentation");
  ASSERT_NE(frag, nullptr);
  ASSERT_EQ(frag->type, JValue::kNumber);
  EXPECT_NEAR(std::strtod(frag->text.c_str(), nullptr), s.fragmentation, kSixDecimals);

  const JValue *hist = doc.Find("size_histogram");
  ASSERT_NE(hist, nullptr);
  ASSERT_EQ(hist->type, JValue::kArray);
  ASSERT_EQ(hist->items.size(), size_t{NV_POOL_HISTOGRAM_BUCKETS});
  for (unsigned i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) {
    uint64_t got = 0;
    ASSERT_EQ(hist->items[i].type, JValue::kNumber);
    ASSERT_TRUE(ParseU64(hist->items[i].text, &got)) << hist->items[i].text;
    EXPECT_EQ(got, s.size_histogram[i]) << "bucket " << i;
  }
}

// ============================================================================
// The Prometheus text format, line by line
// ============================================================================

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string value;
  std::string Label(const std::string &key) const {
    for (const auto &l : labels)
      if (l.first == key) return l.second;
    return "<absent>";
  }
};

struct Family {
  std::string help, type;
  std::vector<Sample> samples;
};

// The family a sample belongs to: its name, or for a histogram's series the
// name without _bucket/_sum/_count.
std::string FamilyOf(const std::string &sample, const std::map<std::string, Family> &families) {
  if (families.count(sample)) return sample;
  for (const char *suffix : {"_bucket", "_sum", "_count"}) {
    size_t n = std::strlen(suffix);
    if (sample.size() > n && sample.compare(sample.size() - n, n, suffix) == 0) {
      std::string base = sample.substr(0, sample.size() - n);
      auto it = families.find(base);
      if (it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return sample;
}

bool IsMetricNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

class PromParser {
 public:
  bool Parse(const std::string &text, std::map<std::string, Family> *families) {
    if (text.empty() || text.back() != '\n') return Fail("text must end in a newline", 0);
    std::string current;  // family of the previous sample line
    std::set<std::string> finished;
    size_t start = 0, line_no = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      std::string line = text.substr(start, end - start);
      start = end + 1;
      line_no++;
      if (line.empty()) return Fail("empty line", line_no);
      if (line[0] == '#') {
        std::istringstream in(line);
        std::string hash, keyword, name;
        in >> hash >> keyword >> name;
        if (hash != "#" || (keyword != "HELP" && keyword != "TYPE"))
          return Fail("unexpected comment: " + line, line_no);
        size_t at = line.find(name, 2 + keyword.size()) + name.size();
        std::string rest = at < line.size() ? line.substr(at + 1) : "";
        Family &f = (*families)[name];
        if (!f.samples.empty()) return Fail(keyword + " after the samples of " + name, line_no);
        if (keyword == "HELP") {
          if (!f.help.empty()) return Fail("second HELP for " + name, line_no);
          f.help = UnescapeHelp(rest);
          if (f.help.empty()) return Fail("empty HELP for " + name, line_no);
        } else {
          if (!f.type.empty()) return Fail("second TYPE for " + name, line_no);
          if (rest != "gauge" && rest != "counter" && rest != "histogram" && rest != "summary" &&
              rest != "untyped")
            return Fail("bad TYPE " + rest, line_no);
          f.type = rest;
        }
        continue;
      }
      Sample sample;
      if (!ParseSample(line, &sample, line_no)) return false;
      std::string family = FamilyOf(sample.name, *families);
      if (family != current) {
        if (finished.count(family)) return Fail("family " + family + " is not contiguous", line_no);
        if (!current.empty()) finished.insert(current);
        current = family;
      }
      auto it = families->find(family);
      if (it == families->end() || it->second.type.empty())
        return Fail("sample of " + family + " before its TYPE", line_no);
      it->second.samples.push_back(sample);
    }
    return true;
  }
  const std::string &error() const { return error_; }

 private:
  bool Fail(const std::string &why, size_t line) {
    if (error_.empty()) error_ = "line " + std::to_string(line) + ": " + why;
    return false;
  }
  static std::string UnescapeHelp(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
      if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
        out.push_back(s[i + 1] == 'n' ? '\n' : '\\');
        i++;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  bool ParseSample(const std::string &line, Sample *out, size_t line_no) {
    size_t i = 0;
    while (i < line.size() && IsMetricNameChar(line[i], i == 0)) i++;
    if (i == 0) return Fail("no metric name: " + line, line_no);
    out->name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      i++;
      for (;;) {
        if (i < line.size() && line[i] == '}') {
          i++;
          break;
        }
        size_t k = i;
        while (i < line.size() && IsMetricNameChar(line[i], i == k) && line[i] != ':') i++;
        if (i == k) return Fail("bad label name: " + line, line_no);
        std::string key = line.substr(k, i - k);
        if (line.compare(i, 2, "=\"") != 0) return Fail("expected =\": " + line, line_no);
        i += 2;
        std::string value;
        for (;;) {
          if (i >= line.size()) return Fail("unterminated label value", line_no);
          char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return Fail("unterminated escape", line_no);
            char e = line[i++];
            if (e == '\\') value.push_back('\\');
            else if (e == '"') value.push_back('"');
            else if (e == 'n') value.push_back('\n');
            else return Fail(std::string("bad label escape \\") + e, line_no);
          } else {
            value.push_back(c);
          }
        }
        for (const auto &l : out->labels)
          if (l.first == key) return Fail("duplicate label " + key, line_no);
        out->labels.emplace_back(key, value);
        if (i < line.size() && line[i] == ',') {
          i++;
          continue;
        }
        if (i < line.size() && line[i] == '}') {
          i++;
          break;
        }
        return Fail("expected , or }: " + line, line_no);
      }
    }
    if (i >= line.size() || line[i] != ' ') return Fail("expected a space before the value", line_no);
    i++;
    std::string value = line.substr(i);
    // No timestamp is written: the value is the rest of the line.
    if (value.empty() || value.find(' ') != std::string::npos)
      return Fail("bad value: " + line, line_no);
    if (value != "+Inf" && value != "-Inf" && value != "NaN") {
      char *end = nullptr;
      (void)std::strtod(value.c_str(), &end);
      if (*end != '\0') return Fail("value is not a number: " + value, line_no);
    }
    out->value = value;
    return true;
  }

  std::string error_;
};

void ExpectPrometheusMatches(const std::string &text, const nv_pool_stats_t &s,
                             const std::string &name) {
  SCOPED_TRACE(text);
  std::map<std::string, Family> families;
  PromParser parser;
  ASSERT_TRUE(parser.Parse(text, &families)) << parser.error();

  std::set<std::string> expected = {kFragmentationMetric, kHistogramMetric};
  for (const Field &f : kFields)
    if (f.metric != nullptr) expected.insert(f.metric);
  std::set<std::string> got;
  for (const auto &kv : families) got.insert(kv.first);
  EXPECT_EQ(got, expected);

  for (const auto &kv : families) {
    EXPECT_FALSE(kv.second.help.empty()) << kv.first;
    EXPECT_FALSE(kv.second.type.empty()) << kv.first;
    for (const Sample &sample : kv.second.samples) {
      EXPECT_EQ(sample.Label("pool"), name) << sample.name;
      size_t allowed = sample.name == std::string(kHistogramMetric) + "_bucket" ? 2 : 1;
      EXPECT_EQ(sample.labels.size(), allowed) << sample.name;
    }
  }

  for (const Field &f : kFields) {
    if (f.metric == nullptr) continue;
    auto it = families.find(f.metric);
    ASSERT_NE(it, families.end()) << f.metric;
    EXPECT_EQ(it->second.type, f.type) << f.metric;
    ASSERT_EQ(it->second.samples.size(), 1u) << f.metric;
    const Sample &sample = it->second.samples[0];
    EXPECT_EQ(sample.name, f.metric);
    uint64_t v = 0;
    ASSERT_TRUE(ParseU64(sample.value, &v)) << f.metric << " " << sample.value;
    EXPECT_EQ(v, f.get(s)) << f.metric;
  }

  {
    const Family &frag = families[kFragmentationMetric];
    EXPECT_EQ(frag.type, "gauge");
    ASSERT_EQ(frag.samples.size(), 1u);
    EXPECT_NEAR(std::strtod(frag.samples[0].value.c_str(), nullptr), s.fragmentation, kSixDecimals);
  }

  const Family &h = families[kHistogramMetric];
  EXPECT_EQ(h.type, "histogram");
  ASSERT_EQ(h.samples.size(), size_t{NV_POOL_HISTOGRAM_BUCKETS} + 2);
  uint64_t cumulative = 0, previous = 0;
  for (unsigned i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) {
    const Sample &b = h.samples[i];
    ASSERT_EQ(b.name, std::string(kHistogramMetric) + "_bucket") << i;
    std::string le = i + 1 < NV_POOL_HISTOGRAM_BUCKETS
                         ? std::to_string(nv_pool_histogram_bucket_limit(i))
                         : "+Inf";
    EXPECT_EQ(b.Label("le"), le) << "bucket " << i;
    cumulative += s.size_histogram[i];
    uint64_t v = 0;
    ASSERT_TRUE(ParseU64(b.value, &v)) << b.value;
    EXPECT_EQ(v, cumulative) << "bucket le=" << le;
    EXPECT_GE(v, previous);
    previous = v;
  }
  const Sample &sum = h.samples[NV_POOL_HISTOGRAM_BUCKETS];
  const Sample &count = h.samples[NV_POOL_HISTOGRAM_BUCKETS + 1];
  EXPECT_EQ(sum.name, std::string(kHistogramMetric) + "_sum");
  EXPECT_EQ(count.name, std::string(kHistogramMetric) + "_count");
  uint64_t v = 0;
  ASSERT_TRUE(ParseU64(sum.value, &v));
  EXPECT_EQ(v, s.allocated_bytes);
  ASSERT_TRUE(ParseU64(count.value, &v));
  EXPECT_EQ(v, cumulative);
  EXPECT_EQ(v, s.allocations) << "every successful allocation is in one bucket";
}

// ============================================================================
// Pools to export
// ============================================================================

class ExportTest : public nvtest::PoolTest {
 protected:
  // A pool with every counter and gauge non-zero: small, block and large
  // allocations, frees, reallocations, a reset, refused requests, free
  // chunks (fragmentation).
  PoolPtr BusyPool(const char *name, int enable_stats = 1) {
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    config.name = name;
    config.enable_stats = enable_stats;
    PoolPtr pool = nvtest::Make(config);
    EXPECT_NE(pool, nullptr);
    if (pool == nullptr) return pool;
    nv_pool_t *p = pool.get();
    std::vector<void *> keep;
    for (size_t n : {size_t{0}, size_t{1}, size_t{40}, size_t{300}, size_t{5000}}) keep.push_back(nv_pool_alloc(p, n));
    nv_pool_reset(p);
    keep.clear();
    for (size_t i = 0; i < 60; i++) keep.push_back(nv_pool_alloc(p, i * 13 % 700));
    keep.push_back(nv_pool_alloc(p, 24));
    keep.push_back(nv_pool_alloc(p, 100000));  // large, index 61: stays live
    keep.push_back(nv_pool_calloc(p, 10, 30));
    keep.push_back(nv_pool_align(p, 100, 256));
    for (size_t i = 0; i < keep.size(); i += 3) {
      EXPECT_EQ(nv_pool_free(p, keep[i]), NV_OK);
      keep[i] = nullptr;
    }
    keep[1] = nv_pool_realloc(p, keep[1], 900);
    keep[2] = nv_pool_realloc(p, keep[2], 3);
    EXPECT_EQ(nv_pool_alloc(p, size_t{4} << 20), nullptr);  // past max_size
    ExpectErrorLogged("alloc past max_size");
    EXPECT_EQ(nv_pool_align(p, 10, 3), nullptr);  // bad alignment
    ExpectErrorLogged("bad alignment");
    return pool;
  }
};

TEST_F(ExportTest, JsonMatchesStats) {
  PoolPtr pool = BusyPool("busy");
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool.get(), &s);
  // Every field non-zero, so a swapped pair of fields would show.
  EXPECT_NE(s.allocations, 0u);
  EXPECT_NE(s.frees, 0u);
  EXPECT_NE(s.reallocations, 0u);
  EXPECT_NE(s.resets, 0u);
  EXPECT_NE(s.failed_allocations, 0u);
  EXPECT_NE(s.large_allocations, 0u);
  EXPECT_GT(s.fragmentation, 0.0);
  ExpectJsonMatches(JsonOf(pool.get()), s, "busy");

  // A fresh pool, and the busy one after a stats reset.
  PoolPtr fresh = nvtest::Make(nvtest::DefaultConfig());
  nv_pool_get_stats(fresh.get(), &s);
  ExpectJsonMatches(JsonOf(fresh.get()), s, "pool");
  nv_pool_reset_stats(pool.get());
  nv_pool_get_stats(pool.get(), &s);
  EXPECT_EQ(s.allocations, 0u);
  ExpectJsonMatches(JsonOf(pool.get()), s, "busy");
}

TEST_F(ExportTest, PrometheusMatchesStats) {
  PoolPtr pool = BusyPool("busy");
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool.get(), &s);
  ExpectPrometheusMatches(PrometheusOf(pool.get()), s, "busy");
  PoolPtr fresh = nvtest::Make(nvtest::DefaultConfig());
  nv_pool_get_stats(fresh.get(), &s);
  ExpectPrometheusMatches(PrometheusOf(fresh.get()), s, "pool");
  nv_pool_reset_stats(pool.get());
  nv_pool_get_stats(pool.get(), &s);
  ExpectPrometheusMatches(PrometheusOf(pool.get()), s, "busy");
}

// Exporting reads only: the text is the same twice, and the stats too.
TEST_F(ExportTest, ExportChangesNothing) {
  PoolPtr pool = BusyPool("busy");
  ASSERT_NE(pool, nullptr);
  nvtest::Snapshot before = nvtest::Snapshot::Of(pool.get());
  std::string j1 = JsonOf(pool.get()), p1 = PrometheusOf(pool.get());
  EXPECT_EQ(JsonOf(pool.get()), j1);
  EXPECT_EQ(PrometheusOf(pool.get()), p1);
  nvtest::ExpectUnchanged(before, nvtest::Snapshot::Of(pool.get()));
}

// ---- truncation: snprintf rules ---------------------------------------------

using Writer = size_t (*)(nv_pool_t *, char *, size_t);

void CheckTruncation(nv_pool_t *pool, Writer write, const char *what, bool quick) {
  SCOPED_TRACE(what);
  const size_t full_length = write(pool, nullptr, 0);
  ASSERT_GT(full_length, 0u);
  std::string full(full_length + 1, '\0');
  ASSERT_EQ(write(pool, &full[0], full.size()), full_length);
  full.resize(full_length);
  ASSERT_EQ(std::strlen(full.c_str()), full_length) << "no NUL inside the text";
  // A NULL buffer counts as size 0, whatever the size says.
  EXPECT_EQ(write(pool, nullptr, 100), full_length);

  std::vector<size_t> sizes;
  size_t step = quick ? 61 : 1;
  for (size_t n = 1; n <= full_length + 2; n += (n < 64 || n + 64 > full_length ? 1 : step))
    sizes.push_back(n);
  constexpr size_t kGuard = 16;
  for (size_t n : sizes) {
    // Exactly n bytes (ASan sees a write past them), then a guard zone
    // (checked without ASan).
    std::unique_ptr<char[]> exact(new char[n]);
    std::memset(exact.get(), '#', n);
    ASSERT_EQ(write(pool, exact.get(), n), full_length) << "size " << n;
    size_t kept = std::min(n - 1, full_length);
    ASSERT_EQ(exact[kept], '\0') << "size " << n;
    ASSERT_EQ(std::string(exact.get(), kept), full.substr(0, kept)) << "size " << n;
    std::vector<char> guarded(n + kGuard, '#');
    ASSERT_EQ(write(pool, guarded.data(), n), full_length);
    for (size_t k = n; k < n + kGuard; k++) {
      ASSERT_EQ(guarded[k], '#') << "size " << n;
    }
    if (n > full_length) {
      EXPECT_EQ(std::string(exact.get()), full);
    }
  }
  // Size 0: nothing written at all.
  char untouched = '#';
  EXPECT_EQ(write(pool, &untouched, 0), full_length);
  EXPECT_EQ(untouched, '#');
}

TEST_F(ExportTest, TruncationFollowsSnprintf) {
  PoolPtr pool = BusyPool("busy \"quoted\" \\ name");
  ASSERT_NE(pool, nullptr);
  CheckTruncation(pool.get(), nv_pool_stats_json, "json", nvtest::Quick());
  CheckTruncation(pool.get(), nv_pool_stats_prometheus, "prometheus", nvtest::Quick());
}

// ---- NULL pool, NULL or failing stream, FILE * variants -----------------------

TEST_F(ExportTest, NullPool) {
  char buffer[64];
  std::memset(buffer, '#', sizeof buffer);
  EXPECT_EQ(nv_pool_stats_json(nullptr, buffer, sizeof buffer), 0u);
  EXPECT_EQ(buffer[0], '\0');
  ExpectErrorLogged("json, NULL pool");
  std::memset(buffer, '#', sizeof buffer);
  EXPECT_EQ(nv_pool_stats_prometheus(nullptr, buffer, sizeof buffer), 0u);
  EXPECT_EQ(buffer[0], '\0');
  ExpectErrorLogged("prometheus, NULL pool");
  EXPECT_EQ(nv_pool_stats_json(nullptr, nullptr, 0), 0u);
  ExpectErrorLogged("json, NULL pool, NULL buffer");

  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(nv_pool_stats_json_to(nullptr, f), 0);
  ExpectErrorLogged("json_to, NULL pool");
  EXPECT_EQ(nv_pool_stats_prometheus_to(nullptr, f), 0);
  ExpectErrorLogged("prometheus_to, NULL pool");
  EXPECT_EQ(std::ftell(f), 0L) << "nothing written for a NULL pool";
  std::fclose(f);

  PoolPtr pool = nvtest::Make(nvtest::DefaultConfig());
  EXPECT_EQ(nv_pool_stats_json_to(pool.get(), nullptr), -1);
  ExpectErrorLogged("json_to, NULL stream");
  EXPECT_EQ(nv_pool_stats_prometheus_to(pool.get(), nullptr), -1);
  ExpectErrorLogged("prometheus_to, NULL stream");
}

std::string ReadAll(FILE *f) {
  std::string out;
  std::rewind(f);
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.append(chunk, n);
  return out;
}

TEST_F(ExportTest, FileVariantsWriteTheSameText) {
  PoolPtr pool = BusyPool("to-file");
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool.get(), &s);

  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  long n = nv_pool_stats_json_to(pool.get(), f);
  std::string text = ReadAll(f);
  EXPECT_EQ(n, static_cast<long>(text.size()));
  EXPECT_EQ(text, JsonOf(pool.get()));
  ExpectJsonMatches(text, s, "to-file");
  std::fclose(f);

  f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  n = nv_pool_stats_prometheus_to(pool.get(), f);
  text = ReadAll(f);
  EXPECT_EQ(n, static_cast<long>(text.size()));
  EXPECT_EQ(text, PrometheusOf(pool.get()));
  ExpectPrometheusMatches(text, s, "to-file");
  std::fclose(f);

  // Both formats appended to one stream (a scrape of several pools would
  // write one after the other).
  f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  long a = nv_pool_stats_json_to(pool.get(), f);
  long b = nv_pool_stats_json_to(pool.get(), f);
  EXPECT_EQ(ReadAll(f), JsonOf(pool.get()) + JsonOf(pool.get()));
  EXPECT_EQ(a, b);
  std::fclose(f);
}

TEST_F(ExportTest, FailingStreamReturnsMinusOne) {
  PoolPtr pool = nvtest::Make(nvtest::DefaultConfig());
  // Read-only stream: every write fails at once.
  FILE *f = std::fopen("/dev/null", "r");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(nv_pool_stats_json_to(pool.get(), f), -1);
  ExpectErrorLogged("json_to, read-only stream");
  std::fclose(f);
  f = std::fopen("/dev/null", "r");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(nv_pool_stats_prometheus_to(pool.get(), f), -1);
  ExpectErrorLogged("prometheus_to, read-only stream");
  std::fclose(f);
  // A full device, unbuffered so the failure shows in the call itself.
  f = std::fopen("/dev/full", "w");
  if (f != nullptr) {
    std::setvbuf(f, nullptr, _IONBF, 0);
    EXPECT_EQ(nv_pool_stats_prometheus_to(pool.get(), f), -1);
    ExpectErrorLogged("prometheus_to, /dev/full");
    std::fclose(f);
  }
}

// ---- names that need escaping ----------------------------------------------

TEST_F(ExportTest, PoolNamesAreEscaped) {
  struct Case {
    std::string name, exported;
  };
  const std::vector<Case> cases = {
      {"plain", "plain"},
      {"quote\"d", "quote\"d"},
      {"back\\slash", "back\\slash"},
      {"new\nline", "new\nline"},
      {"tab\there", "tab?here"},            // other control characters become '?'
      {"bell\x07" "cr\r", "bell?cr?"},
      {"utf8 \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "utf8 \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"bad \xFF\xFE", "bad ??"},             // not UTF-8
      {"overlong \xC0\xAF", "overlong ??"},
      {"surrogate \xED\xA0\x80", "surrogate ???"},
      {"", ""},
      {"}{\",le=\"x", "}{\",le=\"x"},         // cannot break out of the label
      // Longer than NV_POOL_NAME_MAX - 1 (47) bytes: cut on a character boundary.
      {std::string(46, 'n') + "\xC3\xA9tail", std::string(46, 'n')},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE("name: " + c.name);
    nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
    config.name = c.name.c_str();
    PoolPtr pool = nvtest::Make(config);
    ASSERT_NE(pool, nullptr);
    void *p = nv_pool_alloc(pool.get(), 10);
    nv_pool_stats_t s;
    nv_pool_get_stats(pool.get(), &s);
    ExpectJsonMatches(JsonOf(pool.get()), s, c.exported);
    ExpectPrometheusMatches(PrometheusOf(pool.get()), s, c.exported);
    EXPECT_EQ(nv_pool_free(pool.get(), p), NV_OK);
  }
}

// ---- stats off ------------------------------------------------------------------

TEST_F(ExportTest, StatsOffExportsZeroCounters) {
  PoolPtr pool = BusyPool("quiet", /*enable_stats=*/0);
  ASSERT_NE(pool, nullptr);
  nv_pool_stats_t s;
  nv_pool_get_stats(pool.get(), &s);
  EXPECT_EQ(s.allocations, 0u);
  EXPECT_EQ(s.frees, 0u);
  EXPECT_EQ(s.reallocations, 0u);
  EXPECT_EQ(s.resets, 0u);
  EXPECT_EQ(s.failed_allocations, 0u);
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.peak_used, 0u);
  for (unsigned i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++) EXPECT_EQ(s.size_histogram[i], 0u) << i;
  nv_pool_reset_stats(pool.get());  // once set to `used` here, the peak then never moved
  nv_pool_get_stats(pool.get(), &s);
  EXPECT_EQ(s.peak_used, 0u) << "stats off: the peak stays 0 across nv_pool_reset_stats";
  // Gauges stay exact.
  EXPECT_GT(s.used, 0u);
  EXPECT_GT(s.live_allocations, 0u);
  EXPECT_EQ(s.used, nv_pool_get_used(pool.get()));
  ExpectJsonMatches(JsonOf(pool.get()), s, "quiet");
  ExpectPrometheusMatches(PrometheusOf(pool.get()), s, "quiet");

  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_print_stats_to(pool.get(), f);
  std::string text = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(text.find("counters off"), std::string::npos) << text;
  EXPECT_EQ(text.find("allocation sizes"), std::string::npos) << text;
}

// ---- histogram buckets --------------------------------------------------------

TEST(Histogram, BucketLimits) {
  EXPECT_EQ(nv_pool_histogram_bucket_limit(0), 0u);
  for (unsigned i = 1; i + 1 < NV_POOL_HISTOGRAM_BUCKETS; i++)
    EXPECT_EQ(nv_pool_histogram_bucket_limit(i), (size_t{1} << i) - 1) << i;
  EXPECT_EQ(nv_pool_histogram_bucket_limit(NV_POOL_HISTOGRAM_BUCKETS - 1), SIZE_MAX);
  EXPECT_EQ(nv_pool_histogram_bucket_limit(NV_POOL_HISTOGRAM_BUCKETS), SIZE_MAX);
  EXPECT_EQ(nv_pool_histogram_bucket_limit(1000), SIZE_MAX);
  // Documented: bucket 32 is [2^31, 2^32 - 1]; 33 holds everything larger.
  EXPECT_EQ(nv_pool_histogram_bucket_limit(32), size_t{0xFFFFFFFF});
}

// The bucket the header documents for `size`: 0 for 0, else i with
// 2^(i-1) <= size <= 2^i - 1, the last for >= 2^32.
unsigned DocumentedBucket(uint64_t size) {
  if (size == 0) return 0;
  for (unsigned i = 1; i + 1 < NV_POOL_HISTOGRAM_BUCKETS; i++)
    if (size >= (uint64_t{1} << (i - 1)) && size <= (uint64_t{1} << i) - 1) return i;
  return NV_POOL_HISTOGRAM_BUCKETS - 1;
}

// Allocates with `alloc` and checks that exactly `bucket` moved by one and
// allocated_bytes by `size`.
template <typename Alloc>
void ExpectCountedIn(nv_pool_t *pool, uint64_t size, unsigned bucket, Alloc alloc,
                     std::vector<void *> *keep) {
  nv_pool_stats_t before, after;
  nv_pool_get_stats(pool, &before);
  void *p = alloc();
  ASSERT_NE(p, nullptr) << size;
  keep->push_back(p);
  nv_pool_get_stats(pool, &after);
  EXPECT_EQ(after.allocations, before.allocations + 1) << size;
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes + size) << size;
  for (unsigned i = 0; i < NV_POOL_HISTOGRAM_BUCKETS; i++)
    EXPECT_EQ(after.size_histogram[i], before.size_histogram[i] + (i == bucket ? 1 : 0))
        << "size " << size << ", bucket " << i;
}

TEST_F(ExportTest, HistogramBucketBoundaries) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.max_size = 0;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  nv_pool_t *p = pool.get();
  std::vector<void *> keep;
  const std::vector<std::pair<size_t, unsigned>> fixed = {
      {0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4}, {15, 4}, {16, 5}};
  for (const auto &c : fixed) {
    EXPECT_EQ(DocumentedBucket(c.first), c.second);
    ExpectCountedIn(p, c.first, c.second, [&] { return nv_pool_alloc(p, c.first); }, &keep);
  }
  for (unsigned k = 1; k <= 20; k++) {
    size_t below = (size_t{1} << k) - 1, at = size_t{1} << k;
    EXPECT_EQ(DocumentedBucket(below), k);
    EXPECT_EQ(DocumentedBucket(at), k + 1);
    ExpectCountedIn(p, below, k, [&] { return nv_pool_alloc(p, below); }, &keep);
    ExpectCountedIn(p, at, k + 1, [&] { return nv_pool_alloc(p, at); }, &keep);
  }
  // calloc counts nmemb * size, align its size, realloc(NULL) its size.
  ExpectCountedIn(p, 15, 4, [&] { return nv_pool_calloc(p, 3, 5); }, &keep);
  ExpectCountedIn(p, 100, 7, [&] { return nv_pool_align(p, 100, 64); }, &keep);
  ExpectCountedIn(p, 9, 4, [&] { return nv_pool_realloc(p, nullptr, 9); }, &keep);
  // Resizing a live allocation and failed requests are not allocations.
  nv_pool_stats_t before, after;
  nv_pool_get_stats(p, &before);
  keep[3] = nv_pool_realloc(p, keep[3], 5000);
  ASSERT_NE(keep[3], nullptr);
  nv_pool_get_stats(p, &after);
  EXPECT_EQ(after.reallocations, before.reallocations + 1);
  EXPECT_EQ(after.allocations, before.allocations);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(std::memcmp(after.size_histogram, before.size_histogram, sizeof after.size_histogram), 0);
  for (void *q : keep) EXPECT_EQ(nv_pool_free(p, q), NV_OK);

  nv_pool_get_stats(p, &after);
  ExpectJsonMatches(JsonOf(p), after, "pool");
  ExpectPrometheusMatches(PrometheusOf(p), after, "pool");
}

// The top buckets need allocations of 2 to 4 GiB. A backend handing out
// address space reserved with MAP_NORESERVE serves them: the pool touches
// only the header and redzone bytes at both ends.
void *ReserveAlloc(void *, size_t size) {
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
void ReserveRelease(void *, void *memory, size_t size) { munmap(memory, size); }
const nv_pool_backend_t kReserveBackend = {ReserveAlloc, ReserveRelease, nullptr};

TEST_F(ExportTest, HistogramTopBuckets) {
  if (AsanBuild())
    GTEST_SKIP() << "AddressSanitizer build: the pool poisons a large allocation's whole "
                    "range, i.e. 512 MiB of shadow per 4 GiB";
  if (nvtest::Quick())
    GTEST_SKIP() << "NV_TEST_QUICK (Valgrind): memcheck tracks a 4 GiB client mapping "
                    "byte by byte";
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.max_size = 0;
  config.backend = &kReserveBackend;
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  nv_pool_t *p = pool.get();
  std::vector<void *> keep;
  const uint64_t two31 = uint64_t{1} << 31, two32 = uint64_t{1} << 32;
  const std::vector<std::pair<uint64_t, unsigned>> cases = {
      {two31 - 1, 31}, {two31, 32}, {two32 - 1, 32}, {two32, 33}};
  for (const auto &c : cases) {
    EXPECT_EQ(DocumentedBucket(c.first), c.second);
    size_t n = static_cast<size_t>(c.first);
    ExpectCountedIn(p, c.first, c.second, [&] { return nv_pool_alloc(p, n); }, &keep);
    // Only the last byte is touched: no page in the middle is ever faulted in.
    static_cast<unsigned char *>(keep.back())[n - 1] = 1;
  }
  nv_pool_stats_t s;
  nv_pool_get_stats(p, &s);
  ExpectJsonMatches(JsonOf(p), s, "pool");
  ExpectPrometheusMatches(PrometheusOf(p), s, "pool");
  std::string prom = PrometheusOf(p);
  EXPECT_NE(prom.find("nv_pool_allocation_size_bytes_bucket{pool=\"pool\",le=\"4294967295\"} 3\n"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("nv_pool_allocation_size_bytes_bucket{pool=\"pool\",le=\"+Inf\"} 4\n"),
            std::string::npos)
      << prom;

  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_print_stats_to(p, f);
  std::string text = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(text.find("    1073741824..2147483647: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    2147483648..4294967295: 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    >= 4294967296: 1\n"), std::string::npos) << text;
  for (void *q : keep) EXPECT_EQ(nv_pool_free(p, q), NV_OK);
}

// ---- nv_pool_print_stats_to ---------------------------------------------------

TEST_F(ExportTest, PrintStatsShowsTheHistogram) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = "printed";
  PoolPtr pool = nvtest::Make(config);
  ASSERT_NE(pool, nullptr);
  nv_pool_t *p = pool.get();
  std::vector<void *> keep;
  for (size_t n : {size_t{0}, size_t{1}, size_t{1}, size_t{3}, size_t{64}, size_t{100},
                   size_t{127}, size_t{70000}})
    keep.push_back(nv_pool_alloc(p, n));
  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  nv_pool_print_stats_to(p, f);
  std::string text = ReadAll(f);
  std::fclose(f);
  EXPECT_NE(text.find("nv_pool 'printed' statistics\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  allocations        8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  allocation sizes (bytes: count)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    0..0: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    1..1: 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    2..3: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    64..127: 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    65536..131071: 1\n"), std::string::npos) << text;
  // Empty buckets are left out.
  EXPECT_EQ(text.find("    4..7:"), std::string::npos) << text;
  EXPECT_EQ(text.find("    32..63:"), std::string::npos) << text;
  // Exactly the non-empty buckets: one line each.
  size_t lines = 0;
  for (size_t at = text.find("\n    "); at != std::string::npos; at = text.find("\n    ", at + 1))
    lines++;
  EXPECT_EQ(lines, 5u) << text;
  for (void *q : keep) EXPECT_EQ(nv_pool_free(p, q), NV_OK);
}

}  // namespace
