// The gradient checker itself: it passes a correct gradient, fails a wrong one, and fails a
// check that compared nothing.
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("gradcheck passes a correct gradient and counts what it compared") {
  Tensor x = random({3, 5}, 1);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[0]); }, {x});
  CHECK(r.ok);
  CHECK(r.checked == 15);
  CHECK(r.skipped == 0);
}

TEST_CASE("gradcheck fails a wrong gradient and names the element") {
  // x * c where c is x computed without the tape: the true derivative of x*x is 2x, the
  // recorded one only c = x.
  Tensor x = random({2, 4}, 2);
  auto wrong = [](const std::vector<Tensor>& in) {
    Tensor c;
    {
      NoGradGuard no_grad;
      c = scale(in[0], 1.0f);
    }
    return mul(in[0], c);
  };
  auto r = gradcheck(wrong, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.report.find("analytic") != std::string::npos);
}

TEST_CASE("gradcheck fails when it checked nothing") {
  Tensor x = random({2, 2}, 3, 1.0f, /*grad=*/false);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.checked == 0);
  CHECK(r.report.find("nothing was checked") != std::string::npos);
}
