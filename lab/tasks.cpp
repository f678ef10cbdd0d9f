#include "lab/tasks.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

namespace asiarch::lab {
namespace {

using Rng = std::mt19937_64;

int64_t uniform(Rng& rng, int64_t lo, int64_t hi) {  // [lo, hi)
  return std::uniform_int_distribution<int64_t>(lo, hi - 1)(rng);
}
bool bernoulli(Rng& rng, double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

// Settings read from a preset's task entry; each read marks the key as known.
class Params {
 public:
  Params(const std::string& task, const nlohmann::json& j, bool checking = false)
      : task_(task), j_(j), checking_(checking) {}
  // Only the settings are being checked (check_task_settings): a generator that needs more than
  // its settings (byte_lm's corpus) stops once it has read them.
  bool checking() const { return checking_; }
  int64_t integer(const std::string& key, int64_t fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_number_integer()) throw std::invalid_argument(where(key) + " must be an integer");
    const auto v = j_[key].get<int64_t>();
    // Every integer setting of a task is a count, a length or a size.
    if (v < 0) throw std::invalid_argument(where(key) + " must not be negative, got " + std::to_string(v));
    return v;
  }
  double real(const std::string& key, double fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_number()) throw std::invalid_argument(where(key) + " must be a number");
    return j_[key].get<double>();
  }
  bool boolean(const std::string& key, bool fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_boolean()) throw std::invalid_argument(where(key) + " must be true or false");
    return j_[key].get<bool>();
  }
  std::string text(const std::string& key, const std::string& fallback) {
    used_.insert(key);
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_string()) throw std::invalid_argument(where(key) + " must be a string");
    return j_[key].get<std::string>();
  }
  void require(bool ok, const std::string& what) const {
    if (!ok) throw std::invalid_argument("task " + task_ + ": " + what);
  }
  void check_unknown(const std::set<std::string>& also_allowed) const {
    for (const auto& [k, v] : j_.items())
      if (!used_.count(k) && !also_allowed.count(k))
        throw std::invalid_argument(where(k) + " is not a known setting");
  }

 private:
  std::string where(const std::string& key) const { return "task " + task_ + ": field \"" + key + "\""; }
  std::string task_;
  const nlohmann::json& j_;
  bool checking_;
  std::set<std::string> used_;
};

// The autoregressive shift of MAD's recall tasks: the input drops its last
// token; training targets are the next tokens, test targets the probes.
Example shifted(const std::vector<int64_t>& in, const std::vector<int64_t>& tg, bool training) {
  Example e;
  e.input.assign(in.begin(), in.end() - 1);
  if (training)
    e.target.assign(in.begin() + 1, in.end());
  else
    e.target.assign(tg.begin() + 1, tg.end());
  return e;
}

// MAD in-context recall (with noise / multi-query variants). Keys from the
// first half of the non-special vocabulary, values from the second; the map
// is redrawn per sequence. Training targets: the whole shifted sequence.
// Test targets: with multi_query, the value of every key seen before;
// without, only the final probe after a copy token.
Example recall_example(Rng& rng, int64_t vocab, int64_t seq_len, bool training, bool multi_query,
                       int64_t noise_vocab, double frac_noise) {
  const int64_t copy_prefix = vocab - 1;
  int64_t n_special_free = (multi_query ? vocab : vocab - 1) - noise_vocab;
  const int64_t half = n_special_free / 2;
  std::map<int64_t, int64_t> kv, presented;
  std::vector<int64_t> in, tg;
  const int64_t pairs = seq_len / 2;
  const int64_t not_noise = uniform(rng, 0, pairs);
  for (int64_t i = 0; i < pairs - 1; ++i) {
    if (frac_noise > 0 && i != not_noise && bernoulli(rng, frac_noise)) {
      for (int r = 0; r < 2; ++r) {
        in.push_back(n_special_free + uniform(rng, 0, noise_vocab));
        tg.push_back(kIgnore);
      }
      continue;
    }
    const int64_t k = uniform(rng, 0, half);
    if (!kv.count(k)) kv[k] = uniform(rng, half, n_special_free);
    const int64_t v = kv[k];
    in.push_back(k);
    in.push_back(v);
    tg.push_back(kIgnore);
    tg.push_back(presented.count(k) && multi_query ? v : kIgnore);
    presented[k] = v;
  }
  auto it = presented.begin();
  std::advance(it, uniform(rng, 0, static_cast<int64_t>(presented.size())));
  if (!multi_query) {
    in.push_back(copy_prefix);
    tg.push_back(kIgnore);
  }
  in.push_back(it->first);
  tg.push_back(kIgnore);
  in.push_back(it->second);
  tg.push_back(it->second);
  return shifted(in, tg, training);
}

using Motif = std::vector<int64_t>;

Motif random_motif(Rng& rng, int64_t lo, int64_t hi, int64_t size) {
  // Distinct tokens, as MAD's permutations of the vocabulary.
  std::vector<int64_t> pool;
  for (int64_t t = lo; t < hi; ++t) pool.push_back(t);
  std::shuffle(pool.begin(), pool.end(), rng);
  return Motif(pool.begin(), pool.begin() + size);
}

// MAD fuzzy in-context recall: keys and values are motifs of 1..3 tokens;
// test keys always have the maximum motif size; sequences are left-padded.
Example fuzzy_recall_example(Rng& rng, int64_t vocab, int64_t seq_len, bool training, bool multi_query,
                             int64_t k_motif, int64_t v_motif) {
  const int64_t copy_prefix = vocab - 1;
  const int64_t pad = multi_query ? vocab - 1 : vocab - 2;
  const int64_t free = multi_query ? vocab - 1 : vocab - 2;
  const int64_t half = free / 2;
  auto k_size = [&] { return training ? uniform(rng, 1, k_motif + 1) : k_motif; };
  auto v_size = [&] { return uniform(rng, 1, v_motif + 1); };
  const Motif k_probe = random_motif(rng, 0, half, k_size());
  const Motif v_probe = random_motif(rng, half, free, v_size());
  const int64_t probe_len = static_cast<int64_t>(k_probe.size() + v_probe.size());
  const int64_t probe_at = uniform(rng, 0, std::max<int64_t>(1, seq_len - 2 * probe_len));
  bool probe_added = false;
  std::map<Motif, Motif> kv, presented;
  std::vector<int64_t> in, tg;
  while (static_cast<int64_t>(in.size()) < seq_len - probe_len - (k_motif + v_motif)) {
    if (static_cast<int64_t>(in.size()) >= probe_at && !probe_added) {
      in.insert(in.end(), k_probe.begin(), k_probe.end());
      in.insert(in.end(), v_probe.begin(), v_probe.end());
      tg.insert(tg.end(), probe_len, kIgnore);
      kv[k_probe] = v_probe;
      presented[k_probe] = v_probe;
      probe_added = true;
      continue;
    }
    const Motif k = random_motif(rng, 0, half, k_size());
    Motif v;
    if (k == k_probe) {
      v = v_probe;
      probe_added = true;
    } else if (kv.count(k)) {
      v = kv[k];
    } else {
      v = kv[k] = random_motif(rng, half, free, v_size());
    }
    in.insert(in.end(), k.begin(), k.end());
    in.insert(in.end(), v.begin(), v.end());
    tg.insert(tg.end(), k.size(), kIgnore);
    if (presented.count(k) && multi_query)
      tg.insert(tg.end(), v.begin(), v.end());
    else
      tg.insert(tg.end(), v.size(), kIgnore);
    presented[k] = v;
  }
  if (!multi_query) {
    in.push_back(copy_prefix);
    tg.push_back(kIgnore);
  }
  in.insert(in.end(), k_probe.begin(), k_probe.end());
  tg.insert(tg.end(), k_probe.size(), kIgnore);
  in.insert(in.end(), v_probe.begin(), v_probe.end());
  tg.insert(tg.end(), v_probe.begin(), v_probe.end());
  if (static_cast<int64_t>(in.size()) < seq_len + 1) {
    const int64_t n = seq_len + 1 - static_cast<int64_t>(in.size());
    in.insert(in.begin(), n, pad);
    tg.insert(tg.begin(), n, kIgnore);
  }
  // Keep the last seq_len + 1 tokens (the probe is at the end).
  in.erase(in.begin(), in.end() - (seq_len + 1));
  tg.erase(tg.begin(), tg.end() - (seq_len + 1));
  return shifted(in, tg, training);
}

// MAD selective copying: tokens to copy scattered among blanks, then a copy
// token and blanks; targets only on the last num_tokens positions.
Example selective_copy_example(Rng& rng, int64_t vocab, int64_t seq_len, int64_t num_tokens) {
  const int64_t copy_token = vocab - 1, blank = vocab - 2;
  const int64_t n_blank = seq_len - 2 * num_tokens - 1;
  std::vector<int64_t> to_copy(num_tokens);
  for (auto& t : to_copy) t = uniform(rng, 0, vocab - 2);
  // Choose which of the first seq_len - num_tokens - 1 slots hold the tokens.
  std::vector<int64_t> slots(num_tokens + n_blank, blank);
  std::vector<int64_t> idx(slots.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(num_tokens);
  std::sort(idx.begin(), idx.end());
  for (int64_t i = 0; i < num_tokens; ++i) slots[idx[i]] = to_copy[i];
  Example e;
  e.input = slots;
  e.input.push_back(copy_token);
  e.input.insert(e.input.end(), num_tokens, blank);
  e.target.assign(slots.size() + 1, kIgnore);
  e.target.insert(e.target.end(), to_copy.begin(), to_copy.end());
  return e;
}

// MAD compression: seq_len - 1 random tokens and a compression token; the
// model reconstructs the whole input from the last position.
Example compression_example(Rng& rng, int64_t vocab, int64_t seq_len) {
  Example e;
  for (int64_t i = 0; i < seq_len - 1; ++i) e.input.push_back(uniform(rng, 0, vocab - 1));
  e.input.push_back(vocab - 1);
  e.target = e.input;
  return e;
}

// MAD memorization: a fixed key->value map (its own seed, shared by train and
// test), pairs "key insert" with the value as the target at the insert token.
Example memorization_example(Rng& rng, const std::vector<int64_t>& value_of, int64_t vocab, int64_t seq_len) {
  const int64_t insert = vocab - 1;
  Example e;
  for (int64_t i = 0; i < seq_len / 2; ++i) {
    const int64_t k = uniform(rng, 0, static_cast<int64_t>(value_of.size()));
    e.input.push_back(k);
    e.input.push_back(insert);
    e.target.push_back(kIgnore);
    e.target.push_back(value_of[k]);
  }
  return e;
}

// Zoology MQAR: keys from [1, V/2), values from [V/2, V), distinct keys; the
// sequence starts with the pairs, then queries of those keys at even offsets
// with short gaps favoured (power law); the label at a query is its value;
// other positions hold random tokens and are ignored.
Example mqar_example(Rng& rng, int64_t vocab, int64_t seq_len, int64_t pairs, double power_a) {
  std::vector<int64_t> keys, values;
  std::set<int64_t> used;
  while (static_cast<int64_t>(keys.size()) < pairs) {
    const int64_t k = uniform(rng, 1, vocab / 2);
    if (used.insert(k).second) keys.push_back(k);
  }
  for (int64_t i = 0; i < pairs; ++i) values.push_back(uniform(rng, vocab / 2, vocab));
  std::vector<int64_t> seq(seq_len + 1, -1), label(seq_len + 1, kIgnore);
  for (int64_t i = 0; i < pairs; ++i) {
    seq[2 * i] = keys[i];
    seq[2 * i + 1] = values[i];
  }
  // Query slots: even offsets after the pairs; sample without replacement
  // with probability ~ a * x^(a-1) over the gap index x.
  const int64_t first = 2 * pairs, slots = (seq_len + 1 - first) / 2;
  std::vector<double> w(slots);
  for (int64_t s = 0; s < slots; ++s) w[s] = power_a * std::pow(static_cast<double>(s + 1), power_a - 1);
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < pairs && i < slots; ++i) {
    std::discrete_distribution<int64_t> pick(w.begin(), w.end());
    const int64_t s = pick(rng);
    chosen.push_back(s);
    w[s] = 0;
  }
  for (int64_t i = 0; i < static_cast<int64_t>(chosen.size()); ++i) {
    const int64_t pos = first + 2 * chosen[i];
    seq[pos] = keys[i];
    seq[pos + 1] = values[i];
    label[pos + 1] = values[i];
  }
  for (auto& t : seq)
    if (t < 0) t = uniform(rng, 0, vocab);
  Example e;
  e.input.assign(seq.begin(), seq.end() - 1);
  e.target.assign(label.begin() + 1, label.end());
  return e;
}

// Byte-level LM: windows of seq_len + 1 bytes; train windows at random
// offsets in the first (1 - held_out) of the corpus, test windows tiling the
// held-out tail.
void byte_lm(Rng& rng, const std::string& corpus, int64_t seq_len, int64_t n_train, int64_t n_test,
             double held_out, TaskData& out) {
  const int64_t split = static_cast<int64_t>(static_cast<double>(corpus.size()) * (1 - held_out));
  auto window = [&](int64_t at) {
    Example e;
    for (int64_t i = 0; i < seq_len; ++i) {
      e.input.push_back(static_cast<unsigned char>(corpus[at + i]));
      e.target.push_back(static_cast<unsigned char>(corpus[at + i + 1]));
    }
    return e;
  };
  for (int64_t i = 0; i < n_train; ++i) out.train.push_back(window(uniform(rng, 0, split - seq_len - 1)));
  const int64_t test_span = static_cast<int64_t>(corpus.size()) - split - seq_len - 1;
  for (int64_t i = 0; i < n_test; ++i) {
    const int64_t at = split + (n_test > 1 ? i * test_span / (n_test - 1) : 0);
    out.test.push_back(window(at));
  }
}

// ---- State tracking: word problems of a group, trained short, tested long ----
// Each input token is a group element; the target at position t is the product of the first t + 1
// elements (scored at every position). The running product needs a state that composes
// transitions: a cyclic group (parity = Z_2, a running sum mod m) is abelian, the symmetric group
// S_n (n >= 5: the S5 word problem) is not, and is NC1-complete: out of reach for any fixed number
// of layers whose transitions commute (diagonal, positive decays). Test sequences are longer than
// training ones (test_seq_len, default 4x): a mixer that tracks state extrapolates, one that
// memorised lengths does not.

// The permutations of {0..n-1} in lexicographic order, and their product table:
// product[a][b] = a then b (apply a first).
struct SymmetricGroup {
  std::vector<std::vector<int>> elements;
  std::vector<std::vector<int64_t>> product;
  explicit SymmetricGroup(int n) {
    std::vector<int> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    do elements.push_back(perm);
    while (std::next_permutation(perm.begin(), perm.end()));
    std::map<std::vector<int>, int64_t> index;
    for (size_t i = 0; i < elements.size(); ++i) index[elements[i]] = static_cast<int64_t>(i);
    product.assign(elements.size(), std::vector<int64_t>(elements.size()));
    for (size_t a = 0; a < elements.size(); ++a)
      for (size_t b = 0; b < elements.size(); ++b) {
        std::vector<int> c(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) c[static_cast<size_t>(i)] = elements[b][static_cast<size_t>(elements[a][static_cast<size_t>(i)])];
        product[a][b] = index.at(c);
      }
  }
};

// One word of `len` uniform elements of a group given by its product table; identity is element 0.
Example word_problem_example(Rng& rng, const std::vector<std::vector<int64_t>>& product, int64_t len) {
  Example e;
  int64_t acc = 0;
  const int64_t order = static_cast<int64_t>(product.size());
  for (int64_t t = 0; t < len; ++t) {
    const int64_t g = uniform(rng, 0, order);
    acc = product[static_cast<size_t>(acc)][static_cast<size_t>(g)];
    e.input.push_back(g);
    e.target.push_back(acc);
  }
  return e;
}

Status word_problem(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test,
                    const std::vector<std::vector<int64_t>>& product, TaskData& t) {
  t.vocab = static_cast<int64_t>(product.size());
  t.seq_len = p.integer("seq_len", 32);
  const int64_t test_len = p.integer("test_seq_len", 4 * t.seq_len);
  p.require(t.seq_len >= 2, "seq_len must be >= 2");
  p.require(test_len >= t.seq_len, "test_seq_len must be >= seq_len (the test measures length extrapolation)");
  for (int64_t i = 0; i < n_train; ++i) t.train.push_back(word_problem_example(train_rng, product, t.seq_len));
  for (int64_t i = 0; i < n_test; ++i) t.test.push_back(word_problem_example(test_rng, product, test_len));
  return Ok{};
}

std::vector<std::vector<int64_t>> cyclic_group(int64_t m) {
  std::vector<std::vector<int64_t>> product(static_cast<size_t>(m), std::vector<int64_t>(static_cast<size_t>(m)));
  for (int64_t a = 0; a < m; ++a)
    for (int64_t b = 0; b < m; ++b) product[static_cast<size_t>(a)][static_cast<size_t>(b)] = (a + b) % m;
  return product;
}

Status parity(Params& p, Rng& tr, Rng& te, int64_t n_train, int64_t n_test, const std::string&, TaskData& t) {
  return word_problem(p, tr, te, n_train, n_test, cyclic_group(2), t);
}

Status modular_sum(Params& p, Rng& tr, Rng& te, int64_t n_train, int64_t n_test, const std::string&, TaskData& t) {
  const int64_t m = p.integer("modulus", 5);
  p.require(m >= 2 && m <= 256, "modulus must be in [2, 256]");
  return word_problem(p, tr, te, n_train, n_test, cyclic_group(m), t);
}

Status permutation_composition(Params& p, Rng& tr, Rng& te, int64_t n_train, int64_t n_test, const std::string&,
                               TaskData& t) {
  const int64_t n = p.integer("elements", 5);
  p.require(n >= 2 && n <= 5, "elements must be in [2, 5] (S_5 has 120 elements, each a token)");
  return word_problem(p, tr, te, n_train, n_test, SymmetricGroup(static_cast<int>(n)).product, t);
}

// A task's generator: reads its settings from `p`, fills `t` (vocab, seq_len, train, test) from the
// two streams. Settings it does not read are errors (Params::check_unknown).
using Generator = Status (*)(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test,
                             const std::string& corpus, TaskData& t);

Status recall_task(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test, bool noisy,
                   TaskData& t) {
  t.vocab = p.integer("vocab", noisy ? 32 : 16);
  t.seq_len = p.integer("seq_len", 128);
  const bool mq = p.boolean("multi_query", true);
  const int64_t noise_vocab = noisy ? p.integer("noise_vocab", 16) : 0;
  const double frac_noise = noisy ? p.real("frac_noise", 0.2) : 0.0;
  p.require(t.seq_len % 2 == 0 && t.seq_len >= 4, "seq_len must be even and >= 4");
  p.require((mq ? t.vocab : t.vocab - 1) - noise_vocab >= 4, "vocab too small for keys and values");
  p.require(frac_noise >= 0 && frac_noise < 1, "frac_noise must be in [0, 1)");
  for (int64_t i = 0; i < n_train; ++i)
    t.train.push_back(recall_example(train_rng, t.vocab, t.seq_len, true, mq, noise_vocab, frac_noise));
  for (int64_t i = 0; i < n_test; ++i)
    t.test.push_back(recall_example(test_rng, t.vocab, t.seq_len, false, mq, noise_vocab, frac_noise));
  return Ok{};
}

Status in_context_recall(Params& p, Rng& tr, Rng& te, int64_t n_train, int64_t n_test, const std::string&, TaskData& t) {
  return recall_task(p, tr, te, n_train, n_test, false, t);
}

Status noisy_in_context_recall(Params& p, Rng& tr, Rng& te, int64_t n_train, int64_t n_test, const std::string&,
                               TaskData& t) {
  return recall_task(p, tr, te, n_train, n_test, true, t);
}

Status fuzzy_in_context_recall(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test,
                               const std::string&, TaskData& t) {
  t.vocab = p.integer("vocab", 16);
  t.seq_len = p.integer("seq_len", 128);
  const bool mq = p.boolean("multi_query", true);
  const int64_t km = p.integer("k_motif_size", 3), vm = p.integer("v_motif_size", 3);
  p.require(km >= 1 && vm >= 1 && t.seq_len > 4 * (km + vm), "motif sizes must be >= 1 and fit seq_len");
  p.require((t.vocab - 2) / 2 >= std::max(km, vm), "vocab too small for the motif sizes");
  for (int64_t i = 0; i < n_train; ++i)
    t.train.push_back(fuzzy_recall_example(train_rng, t.vocab, t.seq_len, true, mq, km, vm));
  for (int64_t i = 0; i < n_test; ++i)
    t.test.push_back(fuzzy_recall_example(test_rng, t.vocab, t.seq_len, false, mq, km, vm));
  return Ok{};
}

Status selective_copying(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test,
                         const std::string&, TaskData& t) {
  t.vocab = p.integer("vocab", 16);
  t.seq_len = p.integer("seq_len", 256);
  const int64_t n = p.integer("num_tokens", 16);
  p.require(t.vocab >= 4, "vocab must be >= 4");
  p.require(t.seq_len > 2 * n + 1, "seq_len must exceed 2 * num_tokens + 1");
  for (int64_t i = 0; i < n_train; ++i) t.train.push_back(selective_copy_example(train_rng, t.vocab, t.seq_len, n));
  for (int64_t i = 0; i < n_test; ++i) t.test.push_back(selective_copy_example(test_rng, t.vocab, t.seq_len, n));
  return Ok{};
}

Status compression(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test, const std::string&,
                   TaskData& t) {
  t.vocab = p.integer("vocab", 16);
  t.seq_len = p.integer("seq_len", 32);
  t.decode_from_last = true;
  p.require(t.vocab >= 3 && t.seq_len >= 2, "vocab must be >= 3 and seq_len >= 2");
  for (int64_t i = 0; i < n_train; ++i) t.train.push_back(compression_example(train_rng, t.vocab, t.seq_len));
  for (int64_t i = 0; i < n_test; ++i) t.test.push_back(compression_example(test_rng, t.vocab, t.seq_len));
  return Ok{};
}

Status memorization(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test, const std::string&,
                    TaskData& t) {
  t.vocab = p.integer("vocab", 256);
  t.seq_len = p.integer("seq_len", 32);
  const int64_t map_seed = p.integer("kv_map_seed", 12345);
  p.require(t.vocab >= 5 && t.seq_len % 2 == 0, "vocab must be >= 5 and seq_len even");
  // Keys [0, half), values [half, vocab - 1): a fixed random pairing.
  const int64_t half = (t.vocab - 1) / 2;
  std::vector<int64_t> values;
  for (int64_t v = half; v < t.vocab - 1; ++v) values.push_back(v);
  Rng map_rng(static_cast<uint64_t>(map_seed));
  std::shuffle(values.begin(), values.end(), map_rng);
  values.resize(half);
  for (int64_t i = 0; i < n_train; ++i) t.train.push_back(memorization_example(train_rng, values, t.vocab, t.seq_len));
  for (int64_t i = 0; i < n_test; ++i) t.test.push_back(memorization_example(test_rng, values, t.vocab, t.seq_len));
  return Ok{};
}

Status mqar(Params& p, Rng& train_rng, Rng& test_rng, int64_t n_train, int64_t n_test, const std::string&, TaskData& t) {
  t.seq_len = p.integer("seq_len", 128);
  t.vocab = p.integer("vocab", 256);
  const int64_t pairs = p.integer("pairs", 8);
  const double a = p.real("power_a", 0.01);
  p.require(t.vocab > t.seq_len, "vocab must exceed seq_len");
  p.require(pairs >= 1 && 4 * pairs <= t.seq_len, "need 1 <= pairs and 4 * pairs <= seq_len");
  p.require(pairs < t.vocab / 2 - 1, "too many pairs for the key vocabulary");
  for (int64_t i = 0; i < n_train; ++i) t.train.push_back(mqar_example(train_rng, t.vocab, t.seq_len, pairs, a));
  for (int64_t i = 0; i < n_test; ++i) t.test.push_back(mqar_example(test_rng, t.vocab, t.seq_len, pairs, a));
  return Ok{};
}

Status byte_lm_task(Params& p, Rng& train_rng, Rng&, int64_t n_train, int64_t n_test, const std::string& corpus,
                    TaskData& t) {
  t.vocab = 256;
  t.seq_len = p.integer("seq_len", 256);
  const double held_out = p.real("held_out", 0.1);
  p.text("corpus", "kjv");  // which corpus the caller loaded (lab/corpus.h); checked there
  p.require(held_out > 0 && held_out < 0.5, "held_out must be in (0, 0.5)");
  if (p.checking()) return Ok{};
  if (static_cast<double>(corpus.size()) * held_out < static_cast<double>(2 * t.seq_len + 2))
    return make_error("task byte_lm: the corpus is too small (" + std::to_string(corpus.size()) + " bytes)");
  byte_lm(train_rng, corpus, t.seq_len, n_train, n_test, held_out, t);
  return Ok{};
}

// Every task the lab knows: its name, how it is measured, whether it reads a corpus, its generator.
// A new task is one generator above and one row here; any other name is an error.
struct TaskKind {
  const char* name;
  Metric metric;
  bool reads_corpus;
  Generator make;
  const char* what;  // what it asks of a mixer, for the Researcher's prompt
};
constexpr TaskKind kTasks[] = {
    {"in_context_recall", Metric::accuracy, false, in_context_recall,
     "key-value pairs, then queries of earlier keys; predict each queried key's value"},
    {"fuzzy_in_context_recall", Metric::accuracy, false, fuzzy_in_context_recall,
     "in-context recall whose keys and values are motifs of 1-3 tokens"},
    {"noisy_in_context_recall", Metric::accuracy, false, noisy_in_context_recall,
     "in-context recall with some pair slots replaced by noise tokens that must be ignored"},
    {"selective_copying", Metric::accuracy, false, selective_copying,
     "tokens scattered among blanks, then a copy marker; reproduce the tokens in order (only those positions are scored)"},
    {"compression", Metric::accuracy, false, compression,
     "a sequence then a compression token; reconstruct the whole input from the last position"},
    {"memorization", Metric::accuracy, false, memorization,
     "a fixed key-to-value map learned across training (no context needed)"},
    {"mqar", Metric::accuracy, false, mqar, "multi-query associative recall: many pairs, then many queries at once"},
    {"byte_lm", Metric::bits_per_byte, true, byte_lm_task, "next-byte prediction on English text, in bits per byte"},
    {"parity", Metric::accuracy, false, parity,
     "state tracking: a bit string; emit the parity of the bits so far at every position (chance 0.5), scored on "
     "sequences test_seq_len long, longer than trained (length extrapolation)"},
    {"modular_sum", Metric::accuracy, false, modular_sum,
     "state tracking: digits mod m; emit the running sum mod m at every position (chance 1/m), scored on "
     "sequences test_seq_len long, longer than trained (length extrapolation)"},
    {"permutation_composition", Metric::accuracy, false, permutation_composition,
     "state tracking, the word problem of the symmetric group S_n (n = elements; S_5, 120 tokens, is NC1-complete): "
     "each token a permutation; emit the composition of all so far at every position (chance 1/n!), scored on "
     "sequences test_seq_len long, longer than trained (length extrapolation)"},
};

const TaskKind* task_kind(const std::string& name) {
  for (const auto& k : kTasks)
    if (name == k.name) return &k;
  return nullptr;
}

}  // namespace

std::string task_description(const std::string& name) {
  const TaskKind* k = task_kind(name);
  return k ? k->what : "";
}

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : kTasks) out.emplace_back(k.name);
    return out;
  }();
  return names;
}

bool task_reads_corpus(const std::string& name) {
  const TaskKind* k = task_kind(name);
  return k && k->reads_corpus;
}

namespace {

Result<TaskData> make_task(const std::string& name, const nlohmann::json& params, std::uint64_t seed,
                           const std::string& corpus, bool checking) {
  const TaskKind* kind = task_kind(name);
  if (!kind) {
    std::string valid;
    for (const auto& n : task_names()) valid += (valid.empty() ? "" : ", ") + n;
    return make_error("unknown task \"" + name + "\"; valid tasks: " + valid);
  }
  if (!params.is_object()) return make_error("task " + name + ": settings must be a JSON object");
  try {
    Params p(name, params, checking);
    TaskData t;
    t.name = name;
    t.metric = kind->metric;
    // Train and test streams are independent, and differ per task.
    Rng train_rng(seed * 0x9E3779B97F4A7C15ULL + std::hash<std::string>{}(name));
    Rng test_rng(seed * 0xD1B54A32D192ED03ULL + std::hash<std::string>{}(name) + 1);
    const int64_t n_train = p.integer("train_examples", 12800), n_test = p.integer("test_examples", 1280);
    p.require(n_train > 0 && n_test > 0, "train_examples and test_examples must be positive");
    const std::set<std::string> trainer_keys = {"steps", "batch_size", "lr"};  // read by the trainer
    // Checking reads every setting as making does, on one example of each split.
    if (auto st = kind->make(p, train_rng, test_rng, checking ? 1 : n_train, checking ? 1 : n_test, corpus, t); !st)
      return st.error();
    p.check_unknown(trainer_keys);
    if (checking) return t;
    // The real length (recall without a copy token is seq_len - 1, as in MAD). The test rows share
    // one length of their own: longer than the training rows' for the length-extrapolation tasks.
    t.seq_len = static_cast<int64_t>(t.train.front().input.size());
    const auto test_len = static_cast<int64_t>(t.test.front().input.size());
    for (const auto* set : {&t.train, &t.test})
      for (const Example& e : *set)
        if (static_cast<int64_t>(e.input.size()) != (set == &t.train ? t.seq_len : test_len) ||
            e.target.size() != e.input.size())
          return make_error("task " + name + ": generator produced ragged examples");
    return t;
  } catch (const std::invalid_argument& e) {
    return make_error(e.what());
  } catch (const nlohmann::json::exception& e) {
    return make_error("task " + name + ": " + e.what());
  } catch (const std::exception& e) {  // sizes the settings asked for that cannot be made (length_error, bad_alloc)
    return make_error("task " + name + ": cannot make it with these settings: " + e.what());
  }
}

}  // namespace

Result<TaskData> make_task(const std::string& name, const nlohmann::json& params, std::uint64_t seed,
                           const std::string& corpus) {
  return make_task(name, params, seed, corpus, false);
}

Status check_task_settings(const std::string& name, const nlohmann::json& params) {
  auto t = make_task(name, params, 0, "", true);
  if (!t) return t.error();
  return Ok{};
}

}  // namespace asiarch::lab
