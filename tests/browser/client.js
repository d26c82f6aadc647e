// What a frontend on another origin does with Parley, with nothing but the browser's own APIs.
// tests/test_browser.py calls `parley.run(url)` and `parley.refused(url)` and checks what they return.
"use strict";

const INBOX = `query Inbox($f: ConversationFilter) {
  conversations(first: 1, filter: $f) { edges { node { id topic provider } } } }`;
const ADD = `mutation Add($id: ID!, $text: String!) {
  addMessages(conversationId: $id, messages: [{text: $text}]) {
    __typename ... on AddMessagesPayload { messages { text } } ... on Error { code message } } }`;
const ADDED = `subscription Added($id: ID) {
  messageAdded(conversationId: $id) { cursor message { text } } }`;
const SETTLE_MS = 200;  // after both subscriptions are open, before the message is added
const WAIT_MS = 5000;

function within(ms, promise, what) {
  return Promise.race([promise, new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms))]);
}

async function post(url, query, variables) {
  const response = await fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify({query, variables}),
  });
  return {status: response.status, body: await response.json()};
}

// graphql-transport-ws by hand: connection_init, wait for connection_ack, subscribe, take `next`s.
function overWebSocket(url, variables) {
  const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
  let opened, received;
  const ready = new Promise((resolve, reject) => {
    opened = resolve;
    socket.onerror = () => reject(new Error("WebSocket error"));
  });
  const first = new Promise((resolve) => { received = resolve; });
  socket.onopen = () => socket.send(JSON.stringify({type: "connection_init", payload: {}}));
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "connection_ack") {
      socket.send(JSON.stringify({id: "1", type: "subscribe", payload: {query: ADDED, variables}}));
      opened({protocol: socket.protocol});
    } else if (frame.type === "next") {
      received(frame.payload);
    } else if (frame.type === "error") {
      received({errors: frame.payload});
    }
  };
  return {ready, first, close: () => socket.close(1000)};
}

// GraphQL over SSE (distinct connections): a POST asking for text/event-stream, read as it arrives.
function overSse(url, variables) {
  const abort = new AbortController();
  let received;
  const first = new Promise((resolve) => { received = resolve; });
  const ready = fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "text/event-stream"},
    body: JSON.stringify({query: ADDED, variables}),
    signal: abort.signal,
  }).then((response) => {
    readEvents(response.body, received).catch(() => {});  // ends with an AbortError on close
    return {status: response.status, contentType: response.headers.get("content-type")};
  });
  return {ready, first, close: () => abort.abort()};
}

// The event stream format: lines end in CRLF, LF or CR (Parley sends CRLF); an empty line ends an event.
async function readEvents(body, onNext) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    const tail = buffer.endsWith("\r") ? "\r" : "";  // maybe half of a CRLF: wait for the next chunk
    buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, "\n") + tail;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event.type === "next" && event.data) onNext(JSON.parse(event.data));
    }
  }
}

function parseEvent(block) {
  const event = {type: "message", data: ""};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;  // a comment: Parley's keep-alive ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    if (field === "data") event.data += (event.data ? "\n" : "") + value;
  }
  return event;
}

async function run(url) {
  const inbox = await post(url, INBOX, {f: {providers: ["socialboards"], status: ["OPEN"]}});
  const conversation = inbox.body.data.conversations.edges[0].node;
  const ws = overWebSocket(url, {id: conversation.id});
  const sse = overSse(url, {id: conversation.id});
  try {
    const [wsOpen, sseOpen] = await within(WAIT_MS, Promise.all([ws.ready, sse.ready]), "subscription");
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const text = `from ${location.origin} at ${Date.now()}`;
    const added = await post(url, ADD, {id: conversation.id, text});
    const [overWs, overSse_] = await within(WAIT_MS, Promise.all([ws.first, sse.first]), "event");
    return {origin: location.origin, inbox, conversation, text, added, wsOpen, sseOpen,
            ws: overWs, sse: overSse_};
  } finally {
    ws.close();
    sse.close();
  }
}

// The same calls from an origin Parley does not list: the browser refuses both.
async function refused(url) {
  let fetched;
  try {
    const answer = await post(url, INBOX, {});
    fetched = {status: answer.status};
  } catch (error) {
    fetched = {error: `${error.name}: ${error.message}`};
  }
  const socket = await new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    let opened = false;
    ws.onopen = () => { opened = true; ws.close(1000); };
    ws.onclose = (event) => resolve({opened, code: event.code});
  });
  return {origin: location.origin, fetched, socket};
}

window.parley = {run, refused};
