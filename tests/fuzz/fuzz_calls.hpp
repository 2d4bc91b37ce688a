// The callables the wire fuzzer registers, shared with the seed generator so
// the committed corpus names the same functions with the same types. They
// cover both argument encodings: raw (arithmetic, enum, bool, std::string,
// std::vector<double>) and Boost archives (containers of strings, maps,
// lists, a user struct, a function object with state).
#pragma once

#include <rankpool/rankpool.hpp>

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool_fuzz {

// With a fixed underlying type every value of that type is a valid shade.
// Without one (plain `enum shade { light, dark }`) a corrupt message can
// decode to a value outside the enum's range, which is undefined behaviour
// that no decoder can check (UBSan reports it in Boost's enum loading): the
// fuzzer found this, see the comment on is_raw in rankpool/detail/raw_value.hpp.
enum shade : std::uint8_t { light, dark };

struct sample {
  std::string name;
  std::vector<double> values;
  std::list<int> marks;
  std::map<int, std::string> tags;
  bool flag = false;
  shade tone = light;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name& values& marks& tags& flag& tone;
  }
};

// A function object: its state travels in the call's archive before the arguments.
struct weighted {
  std::vector<double> weights;

  double operator()(std::vector<double> xs) const;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& weights;
  }
};

std::int64_t mix(int a, std::int64_t b, unsigned char c);
double blend(double x, float y);
std::string label(std::string s, std::uint32_t n);
std::vector<double> scaled(std::vector<double> v, double k);
bool negate(bool b);
int paint(shade s);
int answer();
std::size_t count_words(std::vector<std::string> words, std::map<std::string, int> stop);
std::map<std::string, int> tally(std::vector<std::string> words);
sample summarize(sample s);

// One registered callable as the harness sees it: its name, whether it takes
// no arguments (a chunk of those is pure work, see wire_fuzz.cpp) and how the
// root decodes its result, plain or as a map() chunk.
struct callable {
  std::string_view name;
  bool nullary = false;
  void (*decode_result)(std::string_view payload, bool chunk) = nullptr;
};

const std::vector<callable>& callables();

// Which decoder a result item in a fuzzed result message goes to: chosen by
// its id, so the fuzzer (and the seeds) can steer each payload to each type.
const callable& decoder_for(std::uint64_t id);
bool chunk_decoder_for(std::uint64_t id);
// The id that selects callables()[index], plain or chunked (the inverse of the two above).
std::uint64_t id_selecting(std::size_t index, bool chunk);

}  // namespace rankpool_fuzz
