#include "fuzz_calls.hpp"

#include <algorithm>

namespace rankpool_fuzz {

// The bodies are trivial on purpose: the fuzzer looks for bugs in decoding
// and dispatch, so the callables must not have undefined behaviour of their
// own on any decoded value (unsigned arithmetic, no float-to-int casts).

double weighted::operator()(std::vector<double> xs) const {
  double sum = 0;
  for (std::size_t i = 0; i < std::min(xs.size(), weights.size()); ++i) sum += xs[i] * weights[i];
  return sum;
}

std::int64_t mix(int a, std::int64_t b, unsigned char c) {
  const std::uint64_t v = static_cast<std::uint64_t>(a) * 31u + static_cast<std::uint64_t>(b) + c;
  return static_cast<std::int64_t>(v);
}

double blend(double x, float y) {
  return x * 0.5 + y;
}

std::string label(std::string s, std::uint32_t n) {
  return s + '#' + std::to_string(n);
}

std::vector<double> scaled(std::vector<double> v, double k) {
  for (double& x : v) x *= k;
  return v;
}

bool negate(bool b) {
  return !b;
}

int paint(shade s) {
  return s == dark ? 1 : 0;
}

int answer() {
  return 42;
}

std::size_t count_words(std::vector<std::string> words, std::map<std::string, int> stop) {
  return static_cast<std::size_t>(std::count_if(
      words.begin(), words.end(), [&](const std::string& w) { return stop.count(w) == 0; }));
}

std::map<std::string, int> tally(std::vector<std::string> words) {
  std::map<std::string, int> counts;
  for (const auto& w : words) ++counts[w];
  return counts;
}

sample summarize(sample s) {
  s.name += "!";
  s.flag = !s.flag;
  s.marks.push_back(static_cast<int>(s.values.size()));
  return s;
}

RANKPOOL_REGISTER(mix);
RANKPOOL_REGISTER(blend);
RANKPOOL_REGISTER(label);
RANKPOOL_REGISTER(scaled);
RANKPOOL_REGISTER(negate);
RANKPOOL_REGISTER(paint);
RANKPOOL_REGISTER(answer);
RANKPOOL_REGISTER(count_words);
RANKPOOL_REGISTER(tally);
RANKPOOL_REGISTER(summarize);
RANKPOOL_REGISTER_TYPE(weighted);

namespace {

template <class R>
void decode_as(std::string_view payload, bool chunk) {
  if (chunk) {
    (void)rankpool::detail::decode_result<rankpool::detail::chunk<R>>(payload);
  } else {
    (void)rankpool::detail::decode_result<R>(payload);
  }
}

}  // namespace

const std::vector<callable>& callables() {
  static const std::vector<callable> table = {
      {"mix", false, &decode_as<std::int64_t>},
      {"blend", false, &decode_as<double>},
      {"label", false, &decode_as<std::string>},
      {"scaled", false, &decode_as<std::vector<double>>},
      {"negate", false, &decode_as<bool>},
      {"paint", false, &decode_as<int>},
      {"answer", true, &decode_as<int>},
      {"count_words", false, &decode_as<std::size_t>},
      {"tally", false, &decode_as<std::map<std::string, int>>},
      {"summarize", false, &decode_as<sample>},
      {"weighted", false, &decode_as<double>},
  };
  return table;
}

const callable& decoder_for(std::uint64_t id) {
  return callables()[id % callables().size()];
}

bool chunk_decoder_for(std::uint64_t id) {
  return (id / callables().size()) % 2 == 1;
}

std::uint64_t id_selecting(std::size_t index, bool chunk) {
  return index + (chunk ? callables().size() : 0);
}

}  // namespace rankpool_fuzz
