// Writes the fuzzer's seed corpus: well-formed call messages for each
// callable of fuzz_calls.cpp (single calls and map() chunks, built by the
// same templates the executor uses) and the result messages run_call
// answers them with, plus an error reply. Generated, never hand-written, so
// the seeds follow the wire format when it changes:
//   rankpool_fuzz_seeds --write tests/fuzz/corpus   (regenerate, then commit)
//   rankpool_fuzz_seeds --check tests/fuzz/corpus   (ctest: fails if stale)
// Other files in the corpus directory (found inputs kept as regressions) are left alone.
#include "fuzz_calls.hpp"
#include "support/call_items.hpp"
#include "worker/run_call.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>

namespace {

namespace rd = rankpool::detail;
namespace wire = rankpool::detail::wire;
namespace fz = rankpool_fuzz;

using seed_files = std::map<std::string, std::string>;  // file name -> bytes

std::size_t index_of(std::string_view name) {
  const auto& all = fz::callables();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].name == name) return i;
  }
  throw std::logic_error("make_seeds: no callable named " + std::string(name));
}

// One call item of `count` argument lists, framed as the executor frames it;
// its id selects the callable's own result decoder in result messages.
template <class F, class... Lists>
std::string call_item(std::string_view name, const F& f, bool chunk, const Lists&... lists) {
  std::string item;
  const auto length_at =
      wire::begin_call(item, name, chunk ? wire::chunk_flag : std::uint8_t{0}, 1);
  {
    rd::args_writer<F> out(item, f);
    (std::apply([&out](const auto&... a) { out.add(a...); }, lists), ...);
  }
  wire::end_call(item, length_at);
  wire::set_call_id(item, fz::id_selecting(index_of(name), chunk));
  wire::set_call_count(item, static_cast<std::uint32_t>(sizeof...(Lists)));
  return item;
}

// The result message a worker sends back for `call`.
std::string reply_to(const std::string& call) {
  std::string reply;
  rd::run_call(wire::reader(call).next_call(), rd::call_site{1, "seed-host"}, reply);
  return reply;
}

// A seed for the call and one for its reply.
void add_pair(seed_files& seeds, const std::string& stem, const std::string& call) {
  seeds["call-" + stem] = call;
  seeds["result-" + stem] = reply_to(call);
}

fz::sample example_sample() {
  fz::sample s;
  s.name = "probe";
  s.values = {0.5, 2.0};
  s.marks = {3, 1};
  s.tags = {{1, "one"}, {2, "two"}};
  s.flag = true;
  s.tone = fz::dark;
  return s;
}

using std::make_tuple;
using words = std::vector<std::string>;

// One call of each callable, raw arguments first, then Boost ones.
void add_single_calls(seed_files& seeds) {
  add_pair(seeds, "mix", call_item("mix", &fz::mix, false, make_tuple(7, std::int64_t{-3}, 'c')));
  add_pair(seeds, "blend", call_item("blend", &fz::blend, false, make_tuple(1.5, 0.25f)));
  add_pair(seeds, "label", call_item("label", &fz::label, false, make_tuple("tag", 9u)));
  add_pair(seeds, "scaled",
           call_item("scaled", &fz::scaled, false, make_tuple(std::vector<double>{1, 2, 3}, 2.0)));
  add_pair(seeds, "scaled-empty",
           call_item("scaled", &fz::scaled, false, make_tuple(std::vector<double>{}, 2.0)));
  add_pair(seeds, "negate", call_item("negate", &fz::negate, false, make_tuple(true)));
  add_pair(seeds, "paint", call_item("paint", &fz::paint, false, make_tuple(fz::dark)));
  add_pair(seeds, "answer", call_item("answer", &fz::answer, false, make_tuple()));
  add_pair(seeds, "count_words",
           call_item("count_words", &fz::count_words, false,
                     make_tuple(words{"a", "b", "the"}, std::map<std::string, int>{{"the", 1}})));
  add_pair(seeds, "tally", call_item("tally", &fz::tally, false, make_tuple(words{"x", "y", "x"})));
  add_pair(seeds, "summarize",
           call_item("summarize", &fz::summarize, false, make_tuple(example_sample())));
  add_pair(
      seeds, "weighted",
      call_item("weighted", fz::weighted{{1, 2}}, false, make_tuple(std::vector<double>{3, 4})));
}

// map() chunks: raw arguments, Boost arguments and a function object.
void add_chunks(seed_files& seeds) {
  add_pair(seeds, "chunk-mix",
           call_item("mix", &fz::mix, true, make_tuple(1, std::int64_t{2}, 'a'),
                     make_tuple(4, std::int64_t{5}, 'b')));
  add_pair(seeds, "chunk-label",
           call_item("label", &fz::label, true, make_tuple("a", 1u), make_tuple("bc", 2u)));
  add_pair(
      seeds, "chunk-tally",
      call_item("tally", &fz::tally, true, make_tuple(words{"p"}), make_tuple(words{"q", "q"})));
  add_pair(seeds, "chunk-summarize",
           call_item("summarize", &fz::summarize, true, make_tuple(example_sample()),
                     make_tuple(fz::sample{})));
  add_pair(seeds, "chunk-weighted",
           call_item("weighted", fz::weighted{{0.5}}, true, make_tuple(std::vector<double>{2}),
                     make_tuple(std::vector<double>{})));
}

// An unknown name and arguments that do not decode: their replies are error records.
void add_failures(seed_files& seeds) {
  std::string unknown;
  test_support::append_call(unknown, {0, 0, 1, "unknown", ""});
  add_pair(seeds, "unknown", unknown);
  std::string short_args;
  rd::save_call(short_args, &fz::mix, 1, std::int64_t{2}, 'x');
  short_args.pop_back();  // one byte short of the last argument
  std::string bad_call;
  test_support::append_call(bad_call,
                            {fz::id_selecting(index_of("mix"), false), 0, 1, "mix", short_args});
  add_pair(seeds, "short-args", bad_call);
}

seed_files make_seeds() {
  seed_files seeds;
  add_single_calls(seeds);
  add_chunks(seeds);
  add_failures(seeds);
  // Several items in one message, as the root batches them.
  seeds["call-batch"] = seeds["call-mix"] + seeds["call-tally"] + seeds["call-weighted"];
  seeds["result-batch"] = seeds["result-mix"] + seeds["result-tally"] + seeds["result-unknown"];
  return seeds;
}

std::string read_file(const std::string& path, bool& found) {
  std::ifstream in(path, std::ios::binary);
  found = static_cast<bool>(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int write_seeds(const std::string& dir, const seed_files& seeds) {
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    out << bytes;
    if (!out) {
      std::cerr << "make_seeds: cannot write " << dir << "/" << name << '\n';
      return 1;
    }
  }
  std::cout << "make_seeds: wrote " << seeds.size() << " seeds to " << dir << '\n';
  return 0;
}

int check_seeds(const std::string& dir, const seed_files& seeds) {
  int stale = 0;
  for (const auto& [name, bytes] : seeds) {
    bool found = false;
    if (read_file(dir + "/" + name, found) != bytes) {
      std::cerr << "make_seeds: " << dir << "/" << name << (found ? " is stale" : " is missing")
                << '\n';
      ++stale;
    }
  }
  if (stale > 0) {
    std::cerr << "make_seeds: regenerate with: rankpool_fuzz_seeds --write " << dir << '\n';
    return 1;
  }
  std::cout << "make_seeds: all " << seeds.size() << " seeds in " << dir << " are current\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "--write" && mode != "--check") {
    std::cerr << "usage: rankpool_fuzz_seeds --write|--check CORPUS_DIR\n";
    return 2;
  }
  const auto seeds = make_seeds();
  return mode == "--write" ? write_seeds(argv[2], seeds) : check_seeds(argv[2], seeds);
}
