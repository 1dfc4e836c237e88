"""A local fake of the Telegram Bot API server, for tests, demos and benchmarks.

`LocalBotApi` serves the Bot API over HTTP on 127.0.0.1 so that the real
python-telegram-bot client talks to it exactly as to api.telegram.org, while
tests play residents and officers through `SimUser` / `SimChat`::

    async with LocalBotApi(token="123456:TEST") as api:
        app = (Application.builder().token(api.token)
               .base_url(api.base_url).base_file_url(api.base_file_url).build())
        ...  # start the application polling
        resident = api.user("王女士")
        await resident.send("/start")
        menu = await resident.next_message()      # a BotMessage; .text is the plain text
        answer = await (await resident.press("签收")).answered()
        await api.wait_for(lambda: menu.buttons == [], what="the keyboard is gone")

Waiting never sleeps: it is woken by the bot's own calls, with timeouts that
only guard against failure (`SimChat.expect_no_message` is the one timed wait).

What is faked faithfully:
  * the envelope (`ok`/`result`, `error_code`/`description`, `retry_after`) and
    the real error descriptions, so PTB raises the same exceptions it would in
    production (BadRequest, Forbidden, RetryAfter, InvalidToken, ...);
  * form-encoded, multipart and JSON requests; case-insensitive method names;
  * getUpdates with offset confirmation and long polling that wakes on new
    updates (a newer poll ends an older one with 409, as on the real server);
  * messages: send/edit/delete/copy/forward, text and caption limits (UTF-16),
    Telegram's HTML dialect (plain text and entities; malformed HTML fails with
    "can't parse entities"), inline keyboards (callback_data <= 64 bytes),
    edits dropping the inline keyboard when reply_markup is omitted, "message is
    not modified", callback queries and their answers; people editing their own
    messages (`SimUser.edit`: an `edited_message` update);
  * files: uploads get file ids, re-sending by file_id reuses them, getFile and
    downloads under `/file/bot<token>/<path>`;
  * optional flood limits (`enforce_rate_limits`) and injected faults
    (`inject_fault`: any HTTP error, or a request that is never answered;
    `inject_random_faults`: a share of calls failing so, drawn from a seeded RNG);
  * webhooks: once setWebhook is called, each update is POSTed as JSON to its
    URL (plain HTTP allowed) with the X-Telegram-Bot-Api-Secret-Token header,
    one at a time, again after a growing pause until a 2xx answer comes back;
    getUpdates then fails with 409. `lose_webhook_answers` makes the server
    deliver an update again although the bot accepted it (a lost answer).

What is not faked: inline mode,
payments, media groups, polls, chat administration and membership, MarkdownV2
parsing (the text is kept as sent), URL fetching (files sent by URL are empty),
image dimensions (every photo is one 800×600 PhotoSize) and callback-query
expiry. Methods outside the implemented set answer 404 Not Found, as the real
server does for unknown methods.
"""

from local_botapi.api import LocalBotApi
from local_botapi.sim import Press, SimChat, SimUser
from local_botapi.state import ApiRequest, BotMessage, CallbackAnswer
from local_botapi.webhook import WebhookDelivery, WebhookRetry

__all__ = [
    "ApiRequest",
    "BotMessage",
    "CallbackAnswer",
    "LocalBotApi",
    "Press",
    "SimChat",
    "SimUser",
    "WebhookDelivery",
    "WebhookRetry",
]
