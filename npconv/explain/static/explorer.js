// npconv padding explorer. The page only asks and draws: every number comes
// from npconv's Python through GET /api/explain (or, on a page written by
// `npconv explain --html`, from the answer embedded in the page).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const PARAMS = ["layer", "input", "kernel", "strides", "dilation", "padding", "padding-mode",
    "output-padding", "output-shape", "data-format"];
  const NAMED_PADDINGS = ["valid", "same", "causal", "full"];
  // The command line's defaults, for options a link leaves out.
  const DEFAULTS = { strides: "1", dilation: "1", padding: "valid", "padding-mode": "zeros",
    "output-padding": "", "output-shape": "", "data-format": "channels_last" };
  let sequence = 0, timer = null, player = null;
  let frames = [], steps = [], step = 0;

  // ---------------------------------------------------------------- controls
  function rank() {
    const match = $("layer").value.match(/([123])d/);
    return match ? Number(match[1]) : 2;
  }

  function paddingValue() {
    const choice = $("padding-choice").value;
    return choice === "explicit" ? $("padding").value.trim() : choice;
  }

  function currentQuery() {
    const query = new URLSearchParams();
    for (const param of PARAMS) {
      const value = param === "padding" ? paddingValue() : $(param).value.trim();
      if (value !== "") query.set(param, value);
    }
    query.set("to", $("to").value);
    return query;
  }

  function setControls(query) {
    for (const param of PARAMS) {
      const key = query.has(param) ? param : param.replace(/-/g, "_");
      if (!query.has(key)) continue;
      const value = query.get(key);
      if (param === "padding") {
        const named = NAMED_PADDINGS.includes(value.toLowerCase());
        $("padding-choice").value = named ? value.toLowerCase() : "explicit";
        $("padding").value = named ? "" : value;
      } else if (param === "layer") {
        const option = [...$("layer").options].find(
          (o) => o.value === value.toLowerCase().replace(/[_\- ]/g, ""));
        if (option) $("layer").value = option.value;
      } else {
        $(param).value = value;
      }
    }
    if (query.has("to")) $("to").value = query.get("to");
    $("padding").hidden = $("padding-choice").value !== "explicit";
    syncSliders();
  }

  function syncSliders() {
    for (const slider of document.querySelectorAll(".slider")) {
      const parts = $(slider.dataset.for).value.trim().toLowerCase().split("x");
      if (parts.every((p) => p === parts[0] && /^\d+$/.test(p))) slider.value = parts[0];
    }
  }

  function sliderMoved(event) {
    const slider = event.target, n = slider.value;
    $(slider.dataset.for).value = slider.dataset.for === "input" ? Array(rank()).fill(n).join("x") : n;
    schedule();
  }

  function layerChanged() {
    const parts = $("input").value.trim().toLowerCase().split("x");
    if (parts.length > 1 && parts.every((p) => p === parts[0])) {
      $("input").value = Array(rank()).fill(parts[0]).join("x");
    }
    schedule();
  }

  function clearErrors() {
    for (const control of document.querySelectorAll(".control")) {
      control.classList.remove("invalid");
      control.querySelector(".error").textContent = "";
    }
  }

  function showError(param, message) {
    let control = document.querySelector(`.control[data-param="${CSS.escape(param || "")}"]`);
    if (!control || !param) control = $("general-error").parentElement;
    control.classList.add("invalid");
    control.querySelector(".error").textContent = message;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  }

  async function update() {
    const query = currentQuery();
    const id = ++sequence;
    history.replaceState(null, "", "?" + query.toString());
    let response, data;
    try {
      response = await fetch("api/explain?" + query.toString());
      data = await response.json();
    } catch (error) {
      if (id !== sequence) return;
      clearErrors();
      showError("", "No answer from npconv (is npconv explain --serve still running?): " + error);
      $("result").classList.add("stale");
      return;
    }
    if (id !== sequence) return; // a newer request was sent meanwhile
    clearErrors();
    if (!response.ok) {
      showError(data.param, data.error || response.statusText);
      $("result").classList.add("stale");
      document.body.dataset.state = "error";
      return;
    }
    $("result").classList.remove("stale");
    render(data);
    document.body.dataset.state = "ready";
    document.body.dataset.answered = query.toString(); // the options the page now shows
  }

  // ---------------------------------------------------------------- rendering
  const text = (value) => (value === null || value === undefined ? "None" : String(value));

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child instanceof Node ? child : text(child));
    return node;
  }

  function render(data) {
    $("summary").textContent =
      `${data.layer}: input (${data.input_size.map(text).join(", ")}) → output (${data.output_size.map(text).join(", ")})`;
    $("output-size").textContent = data.output_size.map(text).join("x");
    renderAxes(data);
    renderDrawing(data.drawing);
    renderArticle(data);
    renderSnippet(data.snippet);
  }

  function renderAxes(data) {
    const body = $("axes").querySelector("tbody");
    body.replaceChildren();
    data.dims.forEach((dim, i) => {
      body.append(element("tr", {},
        element("td", {}, dim.axis_name), element("td", {}, dim.input_length),
        element("td", {}, dim.kernel_size), element("td", {}, dim.dilation),
        element("td", {}, dim.effective_kernel_size), element("td", {}, dim.stride),
        element("td", { class: "pads", id: `pads-${i}` }, `(${text(dim.pad_before)}, ${text(dim.pad_after)})`),
        element("td", { id: `out-${i}` }, dim.output_length)));
    });
    const why = $("why");
    why.replaceChildren();
    // Axes decided the same way (same reasons and formulas) share one box, as in the text output.
    const groups = new Map();
    data.dims.forEach((dim) => {
      const key = JSON.stringify([dim.input_length, dim.output_length, dim.pad_reason, dim.formulas, dim.notes,
        dim.output_padding_note, dim.target_note, dim.pad_before, dim.pad_after]);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(dim);
    });
    for (const dims of groups.values()) {
      const dim = dims[0];
      const names = dims.map((d) => d.axis_name).join(" and ");
      const box = element("div", { class: "axis-why" },
        element("strong", {}, `${names}: ${text(dim.input_length)} → ${text(dim.output_length)}`));
      if (dim.transposed) {
        box.append(element("p", { class: "note" },
          `As a forward conv: ${text(dim.inserted_zeros)} zero(s) inserted between inputs ` +
          `(${text(dim.zero_inserted_length)} cells), then padded (${text(dim.pad_before)}, ${text(dim.pad_after)}) ` +
          "and read by the flipped kernel with stride 1."));
      }
      for (const line of [...dim.pad_reason, ...dim.output_padding_note, ...dim.target_note, ...dim.notes]) {
        box.append(element("p", {}, line));
      }
      const table = element("table", { class: "formulas" });
      for (const f of dim.formulas) {
        table.append(element("tr", {}, element("td", {}, f.name), element("td", {}, "= " + f.symbolic),
          element("td", {}, "= " + text(f.numbers)), element("td", { class: "value" }, "= " + text(f.value))));
      }
      box.append(table);
      why.append(box);
    }
    const notes = $("notes");
    notes.replaceChildren(...data.notes.map((n) => element("li", {}, n)));
  }

  function renderDrawing(drawing) {
    stopPlayer();
    $("drawing").innerHTML = drawing.svg || "";
    $("drawing-note").textContent = drawing.note || "";
    // The animated SVG has one hidden <g> per output position, shown in turn by SMIL.
    // Take over from SMIL so the frames can be stepped through by hand.
    frames = [...$("drawing").querySelectorAll("g[visibility]")];
    for (const animate of $("drawing").querySelectorAll("g[visibility] > animate")) animate.remove();
    steps = drawing.steps || [];
    const counts = steps.map((s) => s.length);
    const total = counts.reduce((a, b) => a + b, 0);
    const usable = total > 0 && total === frames.length;
    $("stepper").hidden = !usable;
    if (!usable) { frames = []; steps = []; return; }
    const longest = Math.max(...counts);
    $("step").max = String(longest - 1);
    if (step >= longest) step = 0;
    showStep(step);
    startPlayer();
  }

  function showStep(index) {
    step = index;
    $("step").value = String(index);
    let offset = 0;
    const labels = [];
    steps.forEach((positions) => {
      const shown = Math.min(index, positions.length - 1);
      positions.forEach((_, j) => frames[offset + j].setAttribute("visibility", j === shown ? "visible" : "hidden"));
      labels.push(positions[shown].join(", "));
      offset += positions.length;
    });
    $("step-label").textContent = `output [${labels.join("] [")}]  (${index + 1} of ${$("step").max * 1 + 1})`;
  }

  function startPlayer() {
    stopPlayer();
    player = setInterval(() => showStep(step >= Number($("step").max) ? 0 : step + 1), 700);
    $("step-play").textContent = "pause";
  }

  function stopPlayer() {
    if (player) clearInterval(player);
    player = null;
    $("step-play").textContent = "play";
  }

  function renderArticle(data) {
    const box = $("article");
    box.replaceChildren();
    if (!data.article.length) {
      box.append(element("p", { class: "note" },
        "The article gave rules only for Conv2D and Conv2DTranspose with padding 'valid' or 'same'; " +
        "none speaks about this case."));
      return;
    }
    const table = element("table", { id: "article-table" },
      element("tr", {}, element("th", {}, "quantity"), element("th", {}, "the article's rule"),
        element("th", {}, "the true rule"), element("th", {}, "article says"), element("th", {}, "Keras gives")));
    for (const row of data.article) {
      const said = row.axes.map((a) => a.article).join(", ");
      const truth = row.axes.map((a) => a.truth).join(", ");
      const agree = row.axes.every((a) => a.agree);
      table.append(element("tr", { class: agree ? "" : "wrong" },
        element("td", {}, `${row.layer} ${row.padding}, ${row.quantity}`),
        element("td", {}, row.article_rule), element("td", {}, row.true_rule),
        element("td", { class: agree ? "agree" : "disagree" }, said + (agree ? " ✓" : " ✗")),
        element("td", { class: "truth" }, truth)));
    }
    box.append(table);
    if (data.dims.some((d) => d.dilation > 1)) {
      box.append(element("p", { class: "note" }, "The article's rules know no dilation: they use k where k_eff applies."));
    }
  }

  function renderSnippet(snippet) {
    if (!snippet) { $("snippet").textContent = ""; return; }
    $("to").value = snippet.framework;
    $("snippet").textContent = snippet.code || `# no ${snippet.framework} equivalent: ${snippet.error}`;
  }

  async function copySnippet() {
    const code = $("snippet").textContent;
    try {
      await navigator.clipboard.writeText(code);
    } catch (error) {
      const range = document.createRange();
      range.selectNodeContents($("snippet"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    $("copied").textContent = "copied";
    setTimeout(() => { $("copied").textContent = ""; }, 1500);
  }

  // ---------------------------------------------------------------- start
  function wireStepper() {
    $("step-prev").addEventListener("click", () => { stopPlayer(); showStep(Math.max(step - 1, 0)); });
    $("step-next").addEventListener("click", () => { stopPlayer(); showStep(Math.min(step + 1, Number($("step").max))); });
    $("step").addEventListener("input", () => { stopPlayer(); showStep(Number($("step").value)); });
    $("step-play").addEventListener("click", () => (player ? stopPlayer() : startPlayer()));
    $("copy").addEventListener("click", copySnippet);
  }

  function start() {
    wireStepper();
    const embedded = $("npconv-static");
    if (embedded) { // a page written by --html: one answer, no server
      const data = JSON.parse(embedded.textContent);
      setControls(new URLSearchParams(data.query));
      for (const control of document.querySelectorAll("#controls input, #controls select, #to")) control.disabled = true;
      $("static-note").hidden = false;
      render(data);
      document.body.dataset.state = "ready";
      return;
    }
    const linked = new URLSearchParams(location.search);
    if ([...linked.keys()].length) setControls(new URLSearchParams({ ...DEFAULTS, ...Object.fromEntries(linked) }));
    const changed = (event) => {
      if (event.target.classList.contains("slider")) return sliderMoved(event);
      if (event.target.id === "layer") return layerChanged();
      if (event.target.id === "padding-choice") $("padding").hidden = event.target.value !== "explicit";
      syncSliders();
      schedule();
    };
    // Text fields send "input" as they are typed in; some ways of picking an option send only "change".
    $("controls").addEventListener("input", changed);
    $("controls").addEventListener("change", changed);
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    $("to").addEventListener("change", schedule);
    update();
  }

  start();
})();
