/*
 * The upload page: sends the chosen extract to the service in parts.
 *
 * Protocol (the browser twin of /api/v1/submissions, signed in by the session):
 *   POST  /submissions                 Upload-Length, {"schema"}  -> 201 {id, upload_offset, ...}
 *   PATCH /submissions/{id}            Upload-Offset, the bytes from there -> {status, ...}
 *   GET   /submissions/{id}/status     where to carry on, and the result
 * Every state-changing request carries the page's CSRF token in X-CSRF-Token.
 *
 * Each part starts at the offset the service has committed and ends at the end of a
 * CSV record, so the service never sees half a character or half a quoted field. The
 * submission id is remembered in localStorage for this user, file and dataset: choosing
 * the same file again after an interruption carries on from the service's offset.
 * Plain script, no build step; the CSP allows scripts from this origin only.
 */
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form) {
    return;
  }

  const OFFSET_TYPE = "application/offset+octet-stream";
  const CSRF_HEADER = "X-CSRF-Token";
  const ROW_ERRORS_SHOWN = 20;
  const CONFLICT_RETRIES = 3;
  const csrfToken = form.dataset.csrfToken || "";
  const user = form.dataset.user || "";

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const schemaSelect = document.getElementById("schema");
  const fileInput = document.getElementById("file");
  const button = document.getElementById("upload-button");
  const progressCard = $("upload-progress");
  const bar = $("progress-bar");
  const progressText = $("progress-text");
  const message = $("upload-message");
  const resultCard = $("upload-result");

  class UploadError extends Error {
    constructor(text, status = 0) {
      super(text);
      this.status = status;
    }
  }

  // ------------------------------------------------------------------ formatting

  const number = (n) => Math.round(n).toLocaleString("en-GB");

  function bytes(n) {
    const units = ["bytes", "KiB", "MiB", "GiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${n} bytes` : `${value.toFixed(1)} ${units[unit]}`;
  }

  // ------------------------------------------------------------------ requests

  /** The JSON body of a successful answer, or an UploadError with words for a person. */
  function answer(status, contentType, text, url) {
    if (url && new URL(url, window.location.href).pathname === "/login") {
      throw new UploadError(
        "Your session has ended. Sign in again, then choose the same file to carry on.",
        401,
      );
    }
    let data = null;
    if (/json/.test(contentType)) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (status >= 200 && status < 300 && data) {
      return data;
    }
    let words = "";
    if (data && (data.title || data.detail)) {
      words = [data.title, data.detail].filter(Boolean).join(": ");
    } else if (text) {
      // Refused by the page's gate: an error page. Its heading and first sentence say why.
      const doc = new DOMParser().parseFromString(text, "text/html");
      const heading = doc.querySelector("main h1");
      const detail = [...doc.querySelectorAll("main p")].find((p) => !p.querySelector("a"));
      words = [heading, detail]
        .filter(Boolean)
        .map((e) => e.textContent.trim())
        .join(": ");
    }
    throw new UploadError(words || `The service answered ${status}.`, status);
  }

  async function call(method, url, headers = {}, body = undefined) {
    let response;
    try {
      response = await fetch(url, {
        method,
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json", ...headers },
      });
    } catch (_) {
      throw new UploadError("The connection to the service was lost.");
    }
    const text = await response.text();
    return answer(response.status, response.headers.get("Content-Type") || "", text, response.url);
  }

  /** PATCH one part; XMLHttpRequest because it reports the bytes sent as they go. */
  function sendPart(id, offset, blob, onSent) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PATCH", `/submissions/${id}`);
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", OFFSET_TYPE);
      xhr.setRequestHeader(CSRF_HEADER, csrfToken);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => onSent(event.loaded));
      xhr.addEventListener("load", () => {
        try {
          const type = xhr.getResponseHeader("Content-Type") || "";
          resolve(answer(xhr.status, type, xhr.responseText, xhr.responseURL));
        } catch (error) {
          reject(error);
        }
      });
      const lost = () =>
        reject(new UploadError("The connection was lost while the file was being sent."));
      xhr.addEventListener("error", lost);
      xhr.addEventListener("abort", lost);
      xhr.addEventListener("timeout", lost);
      xhr.send(blob);
    });
  }

  const statusOf = (id) => call("GET", `/submissions/${id}/status`);

  // ------------------------------------------------------------------ resuming

  const memoryKey = (schema, file) =>
    `hsclink.upload|${user}|${schema}|${file.name}|${file.size}|${file.lastModified}`;

  function recall(key) {
    try {
      return Number(window.localStorage.getItem(key)) || 0;
    } catch (_) {
      return 0;
    }
  }

  function remember(key, id) {
    try {
      if (id) {
        window.localStorage.setItem(key, String(id));
      } else {
        window.localStorage.removeItem(key);
      }
    } catch (_) {
      /* storage refused (private window): uploads still work, without resuming */
    }
  }

  /** The unfinished submission for this very file, if the service still has one. */
  async function unfinished(key, file) {
    const id = recall(key);
    if (!id) {
      return null;
    }
    try {
      const view = await statusOf(id);
      if (view.status === "receiving" && view.upload_length === file.size) {
        return view;
      }
    } catch (error) {
      if (error.status === 0 || error.status === 401) {
        throw error;
      }
    }
    remember(key, 0);
    return null;
  }

  // ------------------------------------------------------------------ cutting parts

  async function isGzip(file) {
    const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
    return head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
  }

  /**
   * Where to end the part that starts at ``from`` (a record boundary): just after the
   * last record that ends within the part size (the form's data-slice-bytes). Reads the
   * bytes as CSV (commas, quotes doubled inside quoted fields): in UTF-8 and Windows-1252
   * these bytes are never part of another character. The whole rest of the file if no
   * record ends in the part.
   */
  async function partEnd(file, from) {
    const partBytes = Math.max(1024, Number(form.dataset.sliceBytes) || 4 * 1024 * 1024);
    const limit = Math.min(file.size, from + partBytes);
    if (limit === file.size) {
      return file.size;
    }
    const data = new Uint8Array(await file.slice(from, limit).arrayBuffer());
    const QUOTE = 0x22;
    const COMMA = 0x2c;
    const NEWLINE = 0x0a;
    let state = "start"; // start of a field | plain | quoted | quote (inside quoted)
    let end = -1;
    for (let i = 0; i < data.length; i += 1) {
      const b = data[i];
      if (state === "quoted") {
        if (b === QUOTE) state = "quote";
      } else if (state === "quote") {
        if (b === QUOTE) state = "quoted";
        else if (b === COMMA) state = "start";
        else if (b === NEWLINE) {
          state = "start";
          end = i + 1;
        } else state = "plain";
      } else if (b === NEWLINE) {
        state = "start";
        end = i + 1;
      } else if (b === COMMA) {
        state = "start";
      } else if (state === "start" && b === QUOTE) {
        state = "quoted";
      } else {
        state = "plain";
      }
    }
    return end > 0 ? from + end : file.size;
  }

  // ------------------------------------------------------------------ showing

  const clock = { started: 0, rows: 0 };

  function showProgress(sent, total, view, waiting) {
    const percent = total ? Math.min(100, Math.floor((sent / total) * 100)) : 100;
    bar.value = percent;
    bar.textContent = `${percent}%`;
    const seconds = (performance.now() - clock.started) / 1000;
    const rows = view.rows_seen - clock.rows;
    const rate = rows > 0 && seconds > 0 ? `about ${number(rows / seconds)} rows/s` : "rows/s: estimating";
    const parts = [
      `${bytes(sent)} of ${bytes(total)} sent (${percent}%)`,
      `${number(view.rows_seen)} rows read`,
      rate,
    ];
    if (waiting) {
      parts.push("the service is checking the rows");
    }
    progressText.textContent = parts.join(" · ");
  }

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement("tr");
        for (const cell of cells) {
          const td = document.createElement("td");
          td.textContent = String(cell);
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  function showResult(view) {
    const status = $("result-status");
    $("result-id").textContent = String(view.id);
    $("result-schema").textContent = view.schema;
    status.textContent = view.status;
    status.className = view.status === "accepted" ? "ok" : "error";
    $("result-accepted").textContent = number(view.rows_accepted);
    $("result-refused").textContent = number(view.rows_rejected);
    const problem = $("result-problem");
    problem.textContent = view.problem || "";
    problem.hidden = !view.problem;

    const errors = view.row_errors || [];
    $("row-errors-section").hidden = errors.length === 0;
    const shown = errors.slice(0, ROW_ERRORS_SHOWN);
    $("row-errors-note").textContent =
      view.rows_rejected > shown.length
        ? `The first ${shown.length} problems; ${number(view.rows_rejected)} rows were refused in all.`
        : "";
    fill(
      $("row-errors").querySelector("tbody"),
      shown.map((e) => [e.line, e.column || "", e.reason]),
    );

    const quality = Object.entries(view.quality || {});
    $("quality-section").hidden = quality.length === 0;
    fill(
      $("quality").querySelector("tbody"),
      quality.map(([field, q]) => [field, number(q.missing), number(q.invalid), number(q.normalised)]),
    );
    resultCard.hidden = false;
  }

  // ------------------------------------------------------------------ the upload

  async function upload(file, schema) {
    const key = memoryKey(schema, file);
    let view = await unfinished(key, file);
    if (view) {
      say("");
      progressText.textContent = `Carrying on with submission ${view.id} from ${bytes(view.upload_offset)}.`;
    } else {
      view = await call(
        "POST",
        "/submissions",
        {
          "Content-Type": "application/json",
          "Upload-Length": String(file.size),
          [CSRF_HEADER]: csrfToken,
        },
        JSON.stringify({ schema }),
      );
      remember(key, view.id);
    }
    // A gzip stream restarts from its beginning on the service: send it in one request.
    let whole = await isGzip(file);
    clock.started = performance.now();
    clock.rows = view.rows_seen;
    let conflicts = 0;
    try {
      while (view.status === "receiving") {
        const from = view.upload_offset;
        const end = whole ? file.size : await partEnd(file, from);
        const current = view;
        showProgress(from, file.size, current, false);
        try {
          view = await sendPart(view.id, from, file.slice(from, end), (sent) =>
            showProgress(from + sent, file.size, current, from + sent >= end),
          );
        } catch (error) {
          if (error.status !== 409 || conflicts >= CONFLICT_RETRIES) {
            throw error;
          }
          conflicts += 1; // another tab moved the offset on: carry on from the service's
          view = await statusOf(view.id);
          continue;
        }
        // The service may stop a request part-way (its time box) and answer with what it
        // committed: carry on from there. A gzip upload's offset stays 0 until it ends, so
        // its progress shows in the rows seen.
        const moved = view.upload_offset > from || view.rows_seen > current.rows_seen;
        if (view.status === "receiving" && !moved) {
          if (whole) {
            throw new UploadError("The service did not take any of the file; try again.");
          }
          whole = true; // no record ended inside the part: send the rest at once
        }
      }
    } catch (error) {
      // A refused file ends its submission: show why, with the report so far.
      if (error.status !== 0 && error.status !== 401) {
        const final = await statusOf(view.id).catch(() => null);
        if (final && final.status !== "receiving") {
          remember(key, 0);
          showProgress(final.upload_offset, file.size, final, false);
          showResult(final);
        }
      }
      throw error;
    }
    remember(key, 0);
    showProgress(file.size, file.size, view, false);
    showResult(view);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      return;
    }
    progressCard.hidden = false;
    resultCard.hidden = true;
    say("");
    bar.value = 0;
    progressText.textContent = "Starting…";
    if (file.size === 0) {
      say("The file is empty.");
      return;
    }
    button.disabled = true;
    try {
      await upload(file, schemaSelect.value);
    } catch (error) {
      const why = error instanceof UploadError ? error.message : "Something went wrong.";
      const resumable = resultCard.hidden && (error.status === 0 || error.status >= 500);
      say(resumable ? `${why} Choose the same file again and press Upload to carry on.` : why);
    } finally {
      button.disabled = false;
    }
  });
})();
